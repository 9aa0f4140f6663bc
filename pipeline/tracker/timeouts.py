"""Give up on jobs stuck in one stage, after looking for their replies in channel history."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from midjourney.messages import ChannelMessage
from pipeline.ledger import JobLedger
from pipeline.tracker.tracker import MAX_SEND_ATTEMPTS, REQUEUE, Tracker
from storage.models import FailureCategory, Job, JobStatus, utcnow

if TYPE_CHECKING:
    from midjau.settings import TimeoutSettings

log = logging.getLogger(__name__)

HistoryReader = Callable[[int, datetime], Awaitable[list[ChannelMessage]]]
UpscaleGiveUp = Callable[[str, str], Awaitable[None]]

STAGED_STATUSES = (JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING, JobStatus.UPSCALING)


def stage_limit(job: Job, timeouts: TimeoutSettings) -> float:
    """Return the seconds a job may stay in its current stage."""
    if job.status == JobStatus.SUBMITTED:
        return timeouts.waiting_message
    if job.status == JobStatus.WAITING and job.progress_message_id:
        return timeouts.progress
    if job.status == JobStatus.UPSCALING:
        return timeouts.upscale
    # Running, or "Job queued" at Midjourney, which can last as long as a render.
    return timeouts.final


class TimeoutSweeper:
    """Check jobs in flight on a timer; look stuck ones up in history, then give up on them."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        tracker: Tracker,
        timeouts: TimeoutSettings,
        history: HistoryReader,
        give_up_upscales: UpscaleGiveUp,
        interval: float | None = None,
    ) -> None:
        self.ledger = ledger
        self.tracker = tracker
        self.timeouts = timeouts
        self.history = history
        self.give_up_upscales = give_up_upscales
        shortest = min(
            timeouts.waiting_message, timeouts.progress, timeouts.final, timeouts.upscale
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
        """Give up on every job past its stage's limit; return how many were given up."""
        stale = await self._stale_jobs()
        if not stale:
            return 0
        await self._look_up_history(stale)
        stale = await self._stale_jobs()
        for job in stale:
            await self._give_up(job)
        return len(stale)

    async def _stale_jobs(self) -> list[Job]:
        now = utcnow()
        async with self.ledger.db.sessions() as session:
            jobs = await session.scalars(select(Job).where(Job.status.in_(STAGED_STATUSES)))
            return [
                job
                for job in jobs
                if job.stage_started_at is not None
                and now - job.stage_started_at > timedelta(seconds=stage_limit(job, self.timeouts))
            ]

    async def _look_up_history(self, jobs: list[Job]) -> None:
        oldest: dict[int, datetime] = defaultdict(utcnow)
        for job in jobs:
            if job.connection_id is None:
                continue
            moment = job.sent_at or job.stage_started_at or utcnow()
            oldest[job.connection_id] = min(oldest[job.connection_id], moment)
        for connection_id, since in oldest.items():
            try:
                messages = await self.history(connection_id, since)
            except Exception as error:
                log.warning("connection %s: history look-up failed: %s", connection_id, error)
                continue
            await self.tracker.ingest_history(messages)

    async def _give_up(self, job: Job) -> None:
        limit = stage_limit(job, self.timeouts)
        if job.status == JobStatus.UPSCALING:
            await self.give_up_upscales(job.id, f"no result within {limit:g} s")
            return
        if (
            job.status == JobStatus.SUBMITTED
            and not job.interaction_id
            and job.attempts < MAX_SEND_ATTEMPTS
        ):
            # Discord never acknowledged the request and history has no reply: Midjourney
            # did not get the prompt, so sending it again cannot make a second image.
            changed = await self.ledger.update(job.id, when=[JobStatus.SUBMITTED], **REQUEUE)
            if changed is not None:
                log.warning("job %s: no sign the prompt reached Discord; back in the queue", job.id)
            return
        stage = {
            JobStatus.SUBMITTED: "reply",
            JobStatus.WAITING: "start of the render",
            JobStatus.RUNNING: "result",
        }[job.status]
        changed = await self.ledger.update(
            job.id,
            when=[job.status],
            status=JobStatus.FAILED,
            failure_category=FailureCategory.TIMED_OUT,
            failure_message=f"Midjourney sent no {stage} within {limit:g} seconds.",
        )
        if changed is not None:
            log.warning("job %s timed out waiting for the %s", job.id, stage)
