"""Handle Midjourney's soft moderation: fail the job, or press Appeal and follow the outcome.

Midjourney replies to some prompts with an ephemeral "Action needed to continue" notice that
carries an Appeal button. Each connection's owner chooses what MidJAu does then. With
appeals off, the job fails as moderated at once. With appeals on, MidJAu presses Appeal
with a fresh nonce, which it records as the job's nonce first, and clears the job's
interaction id. The appeal's interaction events then record the appeal's interaction id.
An accepted appeal starts the job as a new render whose messages carry that nonce and
that interaction, so the usual matching finds the job. A rejected appeal is a failure
embed with the same nonce. When nothing comes back, the job's stage timeout applies.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import aiohttp

from midjourney.messages import ChannelMessage
from midjourney.relay import RelayError
from midjourney.replies import Reply
from midjourney.snowflake import new_nonce
from pipeline.ledger import JobChange, JobLedger
from pipeline.pacing import Pacer
from pipeline.tracker.failures import APPEALS_OFF, describe_soft_moderation
from pipeline.tracker.matching import PRE_GRID_STATUSES, TrackedJob
from storage.models import FailureCategory, JobStatus, utcnow

log = logging.getLogger(__name__)

APPEAL_CUSTOM_ID_PREFIX = "mj::prompts::appeal::"


class AppealRelay(Protocol):
    """The part of a relay that presses a button on a message, ephemeral ones included."""

    async def press(
        self, message_id: str, custom_id: str, *, message_flags: int = 0, nonce: str | None = None
    ) -> str: ...


class AppealTools(Protocol):
    """A connection's relay and pacer."""

    @property
    def relay(self) -> AppealRelay: ...

    @property
    def pacer(self) -> Pacer: ...


ToolsLookup = Callable[[int | None], AppealTools | None]


def appeal_custom_id(reply: Reply) -> str | None:
    """Return the custom_id of the Appeal button of a soft-moderation notice, or None."""
    for button in reply.buttons:
        if button.custom_id and button.custom_id.casefold().startswith(APPEAL_CUSTOM_ID_PREFIX):
            return button.custom_id
    # Fall back on the label, because Midjourney may rename its custom_ids.
    for button in reply.buttons:
        if button.custom_id and button.label.strip().casefold() == "appeal":
            return button.custom_id
    return None


class Appeals:
    """Press Appeal on soft-moderation notices for the connections whose owner chose it.

    A job is appealed once. The notice ids of appealed jobs are kept in memory only,
    because ephemeral notices reach only the live gateway session and never come back
    from channel history after a restart.
    """

    def __init__(self, ledger: JobLedger, tools: ToolsLookup | None = None) -> None:
        self.ledger = ledger
        self.tools = tools
        # Job id → id of the notice whose Appeal button was pressed for it.
        self._appealed: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        ledger.subscribe(self._on_job_changed)

    async def on_action_needed(
        self, job: TrackedJob, message: ChannelMessage, reply: Reply, *, appeal: bool
    ) -> None:
        """Fail the job as moderated, or (with ``appeal``) press Appeal and keep it in flight."""
        notice_id = self._appealed.get(job.job_id)
        if notice_id == message.id:
            log.debug("job %s: notice %s already appealed", job.job_id, message.id)
            return
        if notice_id is not None:
            await self._fail(job.job_id, reply, "Midjourney asked again after the appeal.")
            return
        if not appeal:
            await self._fail(job.job_id, reply, APPEALS_OFF)
            return

        custom_id = appeal_custom_id(reply)
        tools = self.tools(job.connection_id) if self.tools else None
        if custom_id is None:
            await self._fail(job.job_id, reply, "MidJAu found no Appeal button on the notice.")
            return
        if tools is None:
            await self._fail(
                job.job_id,
                reply,
                "MidJAu could not press Appeal, because the connection is not running.",
            )
            return

        # Record the appeal's nonce before pressing, so its events match the job at once.
        nonce = new_nonce()
        recorded = await self.ledger.update(
            job.job_id,
            when=PRE_GRID_STATUSES,
            nonce=nonce,
            interaction_id=None,
            stage_started_at=utcnow(),
        )
        if recorded is None:
            return
        self._appealed[job.job_id] = message.id
        log.info("job %s: soft moderation; pressing Appeal on notice %s", job.job_id, message.id)
        self._spawn(self._press(job.job_id, tools, message, custom_id, nonce, reply))

    async def close(self) -> None:
        """Cancel the presses in progress and wait for them to stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _press(
        self,
        job_id: str,
        tools: AppealTools,
        message: ChannelMessage,
        custom_id: str,
        nonce: str,
        reply: Reply,
    ) -> None:
        # A press carries the flags of its message: 64 for the ephemeral notice.
        try:
            async with tools.pacer.turn():
                await tools.relay.press(
                    message.id, custom_id, message_flags=message.flags, nonce=nonce
                )
        except (RelayError, aiohttp.ClientError, OSError) as error:
            log.warning("job %s: pressing Appeal failed: %s", job_id, error)
            outcome = f"MidJAu pressed Appeal, but Discord did not take the press ({error})."
            await self._fail(job_id, reply, outcome, nonce=nonce)
            return
        log.debug("job %s: pressed Appeal with nonce %s", job_id, nonce)

    async def _fail(
        self, job_id: str, reply: Reply, outcome: str, *, nonce: str | None = None
    ) -> None:
        """Fail a job as moderated; with ``nonce``, only while the job still has that nonce."""
        message = describe_soft_moderation(reply, outcome)

        def compute(row: Any) -> dict[str, Any] | None:
            if nonce is not None and row.nonce != nonce:
                return None
            return {
                "status": JobStatus.FAILED,
                "failure_category": FailureCategory.MODERATED,
                "failure_message": message,
            }

        failed = await self.ledger.modify(job_id, compute, when=PRE_GRID_STATUSES)
        if failed is not None:
            log.info("job %s failed: soft moderation (%s)", job_id, outcome)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(_logged(work), name="press Appeal")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_job_changed(self, change: JobChange) -> None:
        if change.job.status.is_final or change.job.status == JobStatus.QUEUED:
            self._appealed.pop(change.job.id, None)


async def _logged(work: Coroutine[Any, Any, None]) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("pressing Appeal failed")
