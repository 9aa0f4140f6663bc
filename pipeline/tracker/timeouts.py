"""Give up on jobs stuck in one stage, after looking for their replies in channel history.

A job past its grid may also have variations rendering. Each one has its own stage and
timer, kept in its render, and is given up alone. A job past its grid that waits for an
upscale whose press history shows no reply to gets that press sent once more, and a new
upscale timeout, before it is given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from midjourney.messages import ChannelMessage
from pipeline.durations import format_duration
from pipeline.ledger import JobLedger
from pipeline.tracker.tracker import MAX_SEND_ATTEMPTS, REQUEUE, Tracker
from pipeline.variations import (
    VARIATION_REQUEUE,
    VariationRender,
    VariationStatus,
    change_render,
    renders_of,
)
from storage.models import FailureCategory, Job, JobStatus, utcnow

if TYPE_CHECKING:
    from midjau.settings import TimeoutSettings

log = logging.getLogger(__name__)

HistoryReader = Callable[[int, datetime], Awaitable[list[ChannelMessage]]]
GridStageGiveUp = Callable[[str, str], Awaitable[None]]
# Presses again a job's upscales that the history has no reply to; returns their indexes.
UpscalePressAgain = Callable[[str, Sequence[ChannelMessage]], Awaitable[list[int]]]

STAGED_STATUSES = (JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING, JobStatus.UPSCALING)


def waiting_to_start_limit(mode: str, timeouts: TimeoutSettings) -> float:
    """Return the seconds a render may stay at "Waiting to start"; relax mode waits longer."""
    return timeouts.relax_progress if mode == "relax" else timeouts.progress


def stage_limit(job: Job, timeouts: TimeoutSettings) -> float:
    """Return the seconds a job may stay in its current stage."""
    if job.status == JobStatus.SUBMITTED:
        return timeouts.waiting_message
    if job.status == JobStatus.WAITING and job.progress_message_id:
        return waiting_to_start_limit(job.mode, timeouts)
    if job.status == JobStatus.UPSCALING:
        return timeouts.upscale
    # Running, or "Job queued" at Midjourney, which can last as long as a render.
    return timeouts.final


def variation_stage_limit(
    render: VariationRender, timeouts: TimeoutSettings, mode: str
) -> float | None:
    """Return the seconds a variation of a job in ``mode`` may stay in its current stage.

    None means no limit.
    """
    if render.status == VariationStatus.QUEUED:
        return None  # waiting for one of our own slots, like a queued job
    if render.status == VariationStatus.SUBMITTED:
        return timeouts.waiting_message
    if render.status == VariationStatus.WAITING and render.progress_message_id:
        return waiting_to_start_limit(mode, timeouts)
    if render.status == VariationStatus.RENDERED:
        return timeouts.upscale  # only the download is left
    return timeouts.final


@dataclass(frozen=True, slots=True)
class StaleWork:
    """A job past its stage's limit, or one of its variations (``variation`` set) past its own."""

    job: Job
    variation: VariationRender | None = None

    @property
    def since(self) -> datetime:
        """Return when the stuck work was sent, to read channel history from."""
        if self.variation is not None:
            return self.variation.sent_at or self.variation.stage_started_at or utcnow()
        return self.job.sent_at or self.job.stage_started_at or utcnow()


class TimeoutSweeper:
    """Check jobs in flight on a timer; look stuck ones up in history, then give up on them."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        tracker: Tracker,
        timeouts: TimeoutSettings,
        history: HistoryReader,
        give_up_after_grid: GridStageGiveUp,
        press_again: UpscalePressAgain | None = None,
        interval: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.tracker = tracker
        self.timeouts = timeouts
        self.history = history
        self.give_up_after_grid = give_up_after_grid
        self.press_again = press_again
        shortest = min(
            timeouts.waiting_message,
            timeouts.progress,
            timeouts.relax_progress,
            timeouts.final,
            timeouts.upscale,
        )
        self.interval = interval if interval is not None else min(max(shortest / 4, 0.05), 15.0)

    async def run(self) -> None:
        """Sweep until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("timeout sweep failed")

    async def sweep(self) -> int:
        """Give up on every job or variation past its stage's limit; return how many."""
        stale = await self._stale_work()
        if not stale:
            return 0
        history = await self._look_up_history(stale)
        stale = await self._stale_work()
        given_up = 0
        for work in stale:
            if work.variation is not None:
                await self._give_up_variation(work.job, work.variation)
            elif await self._pressed_again(work.job, history):
                continue
            else:
                await self._give_up(work.job)
            given_up += 1
        return given_up

    async def _stale_work(self) -> list[StaleWork]:
        now = utcnow()
        async with self.ledger.db.sessions() as session:
            jobs = await session.scalars(select(Job).where(Job.status.in_(STAGED_STATUSES)))
            stale: list[StaleWork] = []
            for job in jobs:
                if self._job_stale(job, now):
                    stale.append(StaleWork(job))
                stale += [StaleWork(job, render) for render in self._stale_variations(job, now)]
            return stale

    def _job_stale(self, job: Job, now: datetime) -> bool:
        if job.stage_started_at is None:
            return False
        if now - job.stage_started_at <= timedelta(seconds=stage_limit(job, self.timeouts)):
            return False
        if job.status != JobStatus.UPSCALING:
            return True
        # Past its grid, a job waits for its upscales and for its variations to be queued.
        # Once every variation is queued or pressed, only the variations' own timers count.
        renders = renders_of(job)
        unqueued = set(job.variations_pending or ()) - set(renders)
        return bool(job.upscales_pending or unqueued or not renders)

    def _stale_variations(self, job: Job, now: datetime) -> list[VariationRender]:
        if job.status != JobStatus.UPSCALING:
            return []
        stale = []
        for render in renders_of(job).values():
            limit = variation_stage_limit(render, self.timeouts, job.mode)
            started = render.stage_started_at
            if limit is not None and started and now - started > timedelta(seconds=limit):
                stale.append(render)
        return stale

    async def _look_up_history(self, stale: list[StaleWork]) -> list[ChannelMessage]:
        """Feed the history since the oldest stale work to the tracker; return what was read."""
        read: list[ChannelMessage] = []
        oldest: dict[int, datetime] = defaultdict(utcnow)
        for work in stale:
            connection_id = work.job.connection_id
            if connection_id is None:
                continue
            oldest[connection_id] = min(oldest[connection_id], work.since)
        for connection_id, since in oldest.items():
            try:
                messages = await self.history(connection_id, since)
            except Exception as error:
                log.warning("connection %s: history look-up failed: %s", connection_id, error)
                continue
            await self.tracker.ingest_history(messages)
            read += messages
        return read

    async def _pressed_again(self, job: Job, history: Sequence[ChannelMessage]) -> bool:
        """Press again the upscales of a stuck job whose press got no reply; return if any."""
        if job.status != JobStatus.UPSCALING or self.press_again is None:
            return False
        try:
            pressed = await self.press_again(job.id, history)
        except Exception:
            log.exception("job %s: pressing its unanswered upscales again failed", job.id)
            return False
        return bool(pressed)

    async def _give_up(self, job: Job) -> None:
        limit = stage_limit(job, self.timeouts)
        if job.status == JobStatus.UPSCALING:
            await self.give_up_after_grid(job.id, f"no result within {format_duration(limit)}")
            return
        if job.status == JobStatus.SUBMITTED and job.attempts < MAX_SEND_ATTEMPTS:
            # History has no reply either, so Midjourney never started the prompt: Discord
            # did not deliver it, or Midjourney acknowledged it and dropped it.
            # NOTE: a prompt that Midjourney starts after this timeout renders twice.
            changed = await self.ledger.update(job.id, when=[JobStatus.SUBMITTED], **REQUEUE)
            if changed is not None:
                log.warning("job %s: no reply from Midjourney; back in the queue", job.id)
            return
        stage = {
            JobStatus.SUBMITTED: "reply",
            JobStatus.WAITING: "start of the render",
            JobStatus.RUNNING: "result",
        }[job.status]
        message = f"Midjourney sent no {stage} within {format_duration(limit)}"
        if job.attempts > 1:
            message += f" (the prompt was sent {job.attempts} times)"
        changed = await self.ledger.update(
            job.id,
            when=[job.status],
            status=JobStatus.FAILED,
            failure_category=FailureCategory.TIMED_OUT,
            failure_message=f"{message}.",
        )
        if changed is not None:
            log.warning("job %s timed out waiting for the %s", job.id, stage)

    async def _give_up_variation(self, job: Job, render: VariationRender) -> None:
        # A queued variation has no limit, so it is never stale.
        limit = variation_stage_limit(render, self.timeouts, job.mode) or 0.0
        if (
            render.status == VariationStatus.SUBMITTED
            and not render.interaction_id
            and render.attempts < MAX_SEND_ATTEMPTS
        ):
            # As for a prompt: no sign the press reached Discord, so pressing again is safe.
            changed = await self.ledger.modify(
                job.id,
                lambda row: change_render(
                    row, render.index, [VariationStatus.SUBMITTED], **VARIATION_REQUEUE
                ),
                when=[JobStatus.UPSCALING],
            )
            if changed is not None:
                log.warning("job %s: no sign the %s press reached Discord", job.id, render.name)
            return
        failure = {
            VariationStatus.SUBMITTED: "Midjourney sent no reply",
            VariationStatus.WAITING: "Midjourney did not start the render",
            VariationStatus.RUNNING: "Midjourney sent no result",
            VariationStatus.RENDERED: "its grid was not stored",
        }[render.status]
        await self.tracker.variations.fail(
            job.id,
            render.index,
            f"{failure} within {format_duration(limit)}",
            FailureCategory.TIMED_OUT,
            when=[render.status],
        )
