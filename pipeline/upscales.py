"""Press the upscale buttons (U1–U4) a row requests, and press again the ones a crash lost.

Each press is committed to ``Job.upscales_pressed`` before it is sent, one entry per
press, so a restart that handles the grid again never repeats a press blindly. A process
killed between that commit and the send leaves a press that Midjourney never saw. Such a
press shows up as neither an "Image #n" reply nor an "Upscaling image #n" notice in the
channel history, and it is sent once more. An upscale starts no render, so the rare
duplicate (the first press did go out, and its reply is late) costs little: Midjourney
posts a second "Image #n", which the tracker and the fetcher ignore.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from midjourney.messages import ChannelMessage
from midjourney.prompt import normalise_for_matching
from midjourney.replies import Reply, ReplyKind, classify, upscale_custom_id
from midjourney.snowflake import new_nonce
from pipeline.completion import JobCompletion
from pipeline.downloading import LinkRefresher
from pipeline.ledger import JobLedger
from pipeline.pacing import Pacer
from pipeline.tracker.matching import JobIndex, TrackedJob
from pipeline.tracker.tracker import MIDJOURNEY_AUTHOR_IDS
from storage.models import FailureCategory, Job, JobStatus, utcnow

log = logging.getLogger(__name__)

# Presses of one upscale button at most: the first, and one more when a crash lost it.
MAX_UPSCALE_PRESSES = 2
# Replies that show Midjourney received an upscale press.
PRESS_ANSWER_KINDS = frozenset({ReplyKind.UPSCALE, ReplyKind.UPSCALE_PLACEHOLDER})


class Presser(LinkRefresher, Protocol):
    """The part of a relay the fetcher uses: button presses and link refreshes."""

    async def press(self, message_id: str, custom_id: str, *, nonce: str | None = None) -> str: ...


class ConnectionTools(Protocol):
    """A connection's relay and pacer."""

    @property
    def relay(self) -> Presser: ...

    @property
    def pacer(self) -> Pacer: ...


class UpscalePresser:
    """Press each requested upscale once, and once more when the first press was lost."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        index: JobIndex,
        connections: Callable[[int | None], ConnectionTools | None],
        completion: JobCompletion,
    ) -> None:
        self.ledger = ledger
        self.index = index
        self.connections = connections
        self.completion = completion

    async def press_requested(self, job: TrackedJob, grid: ChannelMessage, reply: Reply) -> None:
        """Press every upscale the job still waits for that was not pressed before."""
        tools = self.connections(job.connection_id)
        for index in sorted(job.upscales_pending):
            custom_id = upscale_custom_id(reply.buttons or grid.buttons, index)
            if custom_id is None:
                await self._drop(job.job_id, index, f"the grid has no U{index} button")
                continue
            if tools is None:
                await self._drop(job.job_id, index, "its Discord connection is not running")
                continue
            if not await self._claim(job.job_id, index, earlier_presses=0):
                log.info("job %s: U%d was pressed before a restart; awaiting it", job.job_id, index)
                continue
            await self._send(job.job_id, index, grid.id, custom_id, tools)

    async def press_unanswered(self, job_id: str, history: Sequence[ChannelMessage]) -> list[int]:
        """Press again the job's upscales pressed once that ``history`` shows no reply to.

        ``history`` must reach back to the job's grid, whose buttons are pressed. Return
        the indexes pressed again; each press gives the job a new upscale timeout.
        """
        job = await self.ledger.get(job_id)
        if job is None or job.status != JobStatus.UPSCALING or not job.grid_message_id:
            return []
        grid = next((message for message in history if message.id == job.grid_message_id), None)
        tools = self.connections(job.connection_id)
        if grid is None or tools is None:
            return []

        answered = answered_upscales(job, history)
        lost = [
            index
            for index in sorted(job.upscales_pending or ())
            if press_count(job, index) == 1 and index not in answered
        ]
        pressed_again: list[int] = []
        for index in lost:
            custom_id = upscale_custom_id(classify(grid).buttons or grid.buttons, index)
            if custom_id is None or not await self._claim(job_id, index, earlier_presses=1):
                continue
            log.warning(
                "job %s: U%d was recorded as pressed, but the channel has no reply to it; "
                "pressing it again",
                job_id,
                index,
            )
            await self._send(job_id, index, grid.id, custom_id, tools)
            pressed_again.append(index)
        return pressed_again

    async def _claim(self, job_id: str, index: int, *, earlier_presses: int) -> bool:
        """Commit one more press of U<index>; return False if its count is not as expected."""

        def compute(row: Job) -> dict[str, Any] | None:
            pressed = list(row.upscales_pressed or ())
            if index not in (row.upscales_pending or ()) or pressed.count(index) != earlier_presses:
                return None
            changes: dict[str, Any] = {"upscales_pressed": [*pressed, index]}
            if earlier_presses:
                changes["stage_started_at"] = utcnow()
            return changes

        return await self.ledger.modify(job_id, compute, when=[JobStatus.UPSCALING]) is not None

    async def _send(
        self, job_id: str, index: int, grid_id: str, custom_id: str, tools: ConnectionTools
    ) -> None:
        nonce = new_nonce()
        self.index.add_press(nonce, job_id, index)
        try:
            async with tools.pacer.turn():
                await tools.relay.press(grid_id, custom_id, nonce=nonce)
        except Exception as error:
            log.warning("job %s: pressing U%d failed: %s", job_id, index, error)
            await self._drop(job_id, index, f"pressing U{index} failed ({error})")
            return
        log.debug("job %s: pressed U%d on grid %s", job_id, index, grid_id)

    async def _drop(self, job_id: str, index: int, reason: str) -> None:
        await self.completion.drop(
            job_id, reason, upscales=[index], category=FailureCategory.MIDJOURNEY_ERROR
        )


def press_count(job: Job, index: int) -> int:
    """Return how many times U``index`` of the job was pressed (committed before sending)."""
    return list(job.upscales_pressed or ()).count(index)


def answered_upscales(job: Job, history: Sequence[ChannelMessage]) -> set[int]:
    """Return the upscale indexes of the job that Midjourney replied to in ``history``.

    A reply names its grid in its message reference. One without a reference counts
    when it came after the grid and echoes the job's prompt.
    """
    grid_id = job.grid_message_id
    if not grid_id:
        return set()
    prompt = normalise_for_matching(job.prompt)
    answered: set[int] = set()
    for message in history:
        if message.author_id not in MIDJOURNEY_AUTHOR_IDS:
            continue
        reply = classify(message)
        if reply.kind not in PRESS_ANSWER_KINDS or reply.image_index is None:
            continue
        if message.reference_id == grid_id or (
            message.reference_id is None
            and int(message.id) > int(grid_id)
            and normalise_for_matching(reply.prompt or "") == prompt
        ):
            answered.add(reply.image_index)
    return answered
