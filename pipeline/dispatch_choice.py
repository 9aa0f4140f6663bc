"""Choose what one account sends next: a queued variation first, then the next prompt.

A job occupies a slot from the moment it is submitted until its grid arrives or it fails,
and so does each variation (V1–V4) pressed on a grid. Queued variations go before new
prompts, so rows that have started finish first. Batches of one account take turns (round
robin), so a big batch does not starve a small one. Once Midjourney has replied "Queue
full", the account also keeps within the number of jobs in flight it learned then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.batches import DISPATCHABLE_BATCH_STATUSES
from pipeline.job_limits import read_job_limit
from pipeline.variations import QueuedVariation, first_queued, read_variation_work
from storage.models import IN_FLIGHT_JOB_STATUSES, Batch, Job, JobStatus

SPEED_MODES = ("fast", "turbo", "relax")


@dataclass(frozen=True, slots=True)
class SlotLimits:
    """How many jobs an account may have in flight at once, per speed mode."""

    fast: int
    relax: int

    def pool(self, mode: str) -> str:
        """Return the slot pool a job of ``mode`` uses; turbo shares the fast slots."""
        # NOTE: a plan without relaxed slots (Basic) sends relax jobs through the fast pool,
        # and Midjourney replies to them as its plan allows.
        return "relax" if mode == "relax" and self.relax > 0 else "fast"

    def size(self, pool: str) -> int:
        """Return the number of slots in a pool."""
        return self.relax if pool == "relax" else self.fast


async def choose_work(
    session: AsyncSession, connection_id: int, limits: SlotLimits, last_batch_id: int
) -> Job | QueuedVariation | None:
    """Return the connection's next variation or job if a slot is free for it, else None.

    ``last_batch_id`` is the batch of the job sent last, so the next batch takes its turn.
    """
    variations = await read_variation_work(session, connection_id)
    used = dict.fromkeys(("fast", "relax"), 0)
    in_flight = await session.execute(
        select(Job.mode, func.count())
        .where(Job.connection_id == connection_id)
        .where(Job.status.in_(list(IN_FLIGHT_JOB_STATUSES)))
        .group_by(Job.mode)
    )
    for mode, count in [*in_flight.all(), *variations.in_flight_by_mode.items()]:
        used[limits.pool(mode)] += count
    limit = await read_job_limit(session, connection_id)
    if limit is not None and sum(used.values()) >= limit:
        return None  # Midjourney turned away more than this before
    free_pools = {pool for pool, count in used.items() if count < limits.size(pool)}
    if not free_pools:
        return None

    modes = [mode for mode in SPEED_MODES if limits.pool(mode) in free_pools]
    variation = first_queued(variations.queued, modes)
    if variation is not None:
        return variation
    return await _next_job(session, connection_id, modes, last_batch_id)


async def count_sent_since(
    session: AsyncSession, connection_id: int, since: datetime
) -> tuple[int, datetime | None]:
    """Return how many prompts the connection sent since ``since``, and when the oldest was."""
    count, oldest = (
        await session.execute(
            select(func.count(), func.min(Job.sent_at))
            .where(Job.connection_id == connection_id)
            .where(Job.sent_at.is_not(None), Job.sent_at >= since)
        )
    ).one()
    return int(count), oldest


async def count_queued(session: AsyncSession, connection_id: int, *, other_than: int) -> int:
    """Return how many jobs wait to be sent on the connection, outside batch ``other_than``."""
    count = await session.scalar(
        select(func.count())
        .select_from(Job)
        .join(Batch, Job.batch_id == Batch.id)
        .where(
            Job.connection_id == connection_id,
            Job.status == JobStatus.QUEUED,
            Job.batch_id != other_than,
            Batch.status.in_(DISPATCHABLE_BATCH_STATUSES),
        )
    )
    return int(count or 0)


async def _next_job(
    session: AsyncSession, connection_id: int, modes: list[str], last_batch_id: int
) -> Job | None:
    queued_here = (
        Job.connection_id == connection_id,
        Job.status == JobStatus.QUEUED,
        Job.mode.in_(modes),
        Batch.status.in_(DISPATCHABLE_BATCH_STATUSES),
    )
    batch_ids = await session.scalars(
        select(Job.batch_id)
        .join(Batch, Job.batch_id == Batch.id)
        .where(*queued_here)
        .distinct()
        .order_by(Job.batch_id)
    )
    for batch_id in _round_robin(list(batch_ids), last_batch_id):
        job = await session.scalar(
            select(Job)
            .join(Batch, Job.batch_id == Batch.id)
            .where(*queued_here, Job.batch_id == batch_id)
            .order_by(Job.sequence)
            .limit(1)
        )
        if job is not None:
            return job
    return None


def _round_robin(batch_ids: list[int], last: int) -> list[int]:
    """Order batch ids so the one after ``last`` comes first, wrapping around."""
    later = [batch_id for batch_id in batch_ids if batch_id > last]
    earlier = [batch_id for batch_id in batch_ids if batch_id <= last]
    return later + earlier
