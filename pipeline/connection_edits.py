"""Changes an owner makes to a connection: its pace, and removing it with its token.

Removing a connection ends each of its unfinished jobs with a reason, so every row of
its batches still reaches a final state and the report. The batches keep their rows:
the foreign key sets their ``connection_id`` to NULL.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from pipeline.completion import ALL_INDEXES
from storage.models import (
    FINAL_JOB_STATUSES,
    Batch,
    BatchStatus,
    FailureCategory,
    Job,
    JobStatus,
    MidjourneyConnection,
)

if TYPE_CHECKING:
    from pipeline.completion import JobCompletion
    from pipeline.connection_runner import ConnectionRunner
    from pipeline.finishing import BatchFinisher
    from pipeline.health import HealthMonitor
    from pipeline.ledger import JobLedger

log = logging.getLogger(__name__)

# Bounds of the pace an owner may set, so an account's sends stay at a human rhythm.
MIN_GAP_RANGE = (1.0, 3600.0)
DAILY_CAP_RANGE = (1, 10_000)

UNSENT_REASON = "The Midjourney connection was disconnected before this job was sent."
IN_FLIGHT_REASON = (
    "The Midjourney connection was disconnected while Midjourney was working on this job."
)
AFTER_GRID_REASON = "the Midjourney connection was disconnected before every result arrived"


@dataclass(frozen=True, slots=True)
class ConnectionPace:
    """An owner's pace for one account; None uses the default of the settings."""

    daily_cap: int | None = None
    min_gap_seconds: float | None = None

    def check(self) -> None:
        """Raise ValueError when a value is outside its allowed range."""
        low_gap, high_gap = MIN_GAP_RANGE
        if self.min_gap_seconds is not None and not low_gap <= self.min_gap_seconds <= high_gap:
            raise ValueError(
                f"minimum gap {self.min_gap_seconds:g} s is outside {low_gap:g}–{high_gap:g} s"
            )
        low_cap, high_cap = DAILY_CAP_RANGE
        if self.daily_cap is not None and not low_cap <= self.daily_cap <= high_cap:
            raise ValueError(f"daily cap {self.daily_cap} is outside {low_cap}–{high_cap}")


class ConnectionEdits:
    """Apply an owner's pace to a connection, or remove the connection for good."""

    def __init__(
        self,
        ledger: JobLedger,
        *,
        connections: ConnectionRunner,
        health: HealthMonitor,
        completion: JobCompletion,
        finisher: BatchFinisher,
    ) -> None:
        self.ledger = ledger
        self.connections = connections
        self.health = health
        self.completion = completion
        self.finisher = finisher
        # One removal at a time, so a second Disconnect of the same connection finds it gone.
        self._removing = asyncio.Lock()

    async def set_pace(self, connection_id: int, user_id: int, pace: ConnectionPace) -> bool:
        """Store the pace and apply it to the running dispatcher; False when not the user's."""
        pace.check()
        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None or connection.user_id != user_id:
                return False
            connection.daily_cap = pace.daily_cap
            connection.min_gap_seconds = pace.min_gap_seconds
        self.connections.apply_pace(connection)
        log.info("connection %s: pace changed by its owner", connection_id)
        return True

    async def remove(self, connection_id: int, user_id: int) -> bool:
        """Stop the connection, end its unfinished jobs and delete its row with the token.

        Return False when the connection is not the user's, or was removed already.
        """
        async with self._removing:
            return await self._remove(connection_id, user_id)

    async def _remove(self, connection_id: int, user_id: int) -> bool:
        async with self.ledger.db.sessions() as session:
            owner = await session.scalar(
                select(MidjourneyConnection.user_id).where(MidjourneyConnection.id == connection_id)
            )
        if owner is None or owner != user_id:
            return False

        self.health.forget(connection_id)
        await self.connections.remove(connection_id)
        batch_ids = await self._end_unfinished_jobs(connection_id)

        async with self.ledger.transaction() as session:
            await session.execute(
                delete(MidjourneyConnection).where(MidjourneyConnection.id == connection_id)
            )
        # SQLite keeps copies of deleted pages in its write-ahead log until a checkpoint.
        await self.ledger.db.purge_deleted()
        for batch_id in batch_ids:
            self.finisher.mark_changed(batch_id)
        log.info(
            "connection %s of user %s removed with its token; %d batch(es) affected",
            connection_id,
            user_id,
            len(batch_ids),
        )
        return True

    async def _end_unfinished_jobs(self, connection_id: int) -> set[int]:
        async with self.ledger.db.sessions() as session:
            jobs = list(
                await session.execute(
                    select(Job.id, Job.status, Job.batch_id)
                    .join(Batch, Job.batch_id == Batch.id)
                    .where(Job.connection_id == connection_id)
                    .where(Job.status.not_in(list(FINAL_JOB_STATUSES)))
                    # A batch still waiting for Run keeps its jobs, because Run moves it to
                    # another connection of the owner.
                    .where(Batch.status != BatchStatus.AWAITING_CONFIRMATION)
                )
            )
        queued = [job_id for job_id, status, _ in jobs if status == JobStatus.QUEUED]
        in_flight = [job_id for job_id, status, _ in jobs if status.is_in_flight]
        past_grid = [job_id for job_id, status, _ in jobs if status == JobStatus.UPSCALING]

        await self.ledger.update_many(
            queued,
            when=[JobStatus.QUEUED],
            status=JobStatus.FAILED,
            failure_category=FailureCategory.ACCOUNT,
            failure_message=UNSENT_REASON,
        )
        await self.ledger.update_many(
            in_flight,
            when=[JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING],
            status=JobStatus.FAILED,
            failure_category=FailureCategory.ACCOUNT,
            failure_message=IN_FLIGHT_REASON,
        )
        for job_id in past_grid:
            await self._end_after_grid(job_id)
        return {batch_id for _, _, batch_id in jobs}

    async def _end_after_grid(self, job_id: str) -> None:
        if not await self.completion.grid_stored(job_id):
            await self.completion.fail(job_id, FailureCategory.ACCOUNT, IN_FLIGHT_REASON)
            return
        await self.completion.drop(
            job_id,
            AFTER_GRID_REASON,
            upscales=ALL_INDEXES,
            variations=ALL_INDEXES,
            category=FailureCategory.ACCOUNT,
        )
        await self.completion.finish_if_complete(job_id)
