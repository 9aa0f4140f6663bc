"""Learn how many jobs in flight an account's Midjourney really accepts.

A plan promises a number of running jobs plus a waiting queue, but an account may get
fewer: Midjourney changes its limits, and jobs started elsewhere (the website, another
tool) take places too. When Midjourney replies "Queue full", the jobs it had accepted at
that moment (those it replied to with "Waiting to start", "Job queued" or progress) are
the account's real limit. It is stored on the connection, so the dispatcher keeps within it
from then on, across restarts.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.ledger import JobLedger
from pipeline.variations import VariationStatus, renders_of
from storage.models import Job, JobStatus, MidjourneyConnection

log = logging.getLogger(__name__)

# Job and variation stages reached only through a Midjourney reply, so Midjourney has them.
ACCEPTED_JOB_STATUSES = (JobStatus.WAITING, JobStatus.RUNNING)
ACCEPTED_VARIATION_STATUSES = frozenset({VariationStatus.WAITING, VariationStatus.RUNNING})


async def count_accepted(session: AsyncSession, connection_id: int) -> int:
    """Return the jobs and variation renders of a connection that Midjourney has accepted."""
    jobs = await session.scalar(
        select(func.count())
        .select_from(Job)
        .where(Job.connection_id == connection_id, Job.status.in_(ACCEPTED_JOB_STATUSES))
    )
    past_grid = await session.scalars(
        select(Job).where(Job.connection_id == connection_id, Job.status == JobStatus.UPSCALING)
    )
    variations = sum(
        1
        for job in past_grid
        for render in renders_of(job).values()
        if render.status in ACCEPTED_VARIATION_STATUSES
    )
    return (jobs or 0) + variations


async def learn_job_limit(ledger: JobLedger, connection_id: int) -> int | None:
    """Record, after a "Queue full", how many jobs in flight Midjourney accepts.

    The limit only goes down. With nothing of ours accepted, the queue is full of jobs
    from elsewhere, which is no sign of the limit, so nothing is learned. Return the
    connection's limit afterwards.
    """
    async with ledger.transaction() as session:
        connection = await session.get(MidjourneyConnection, connection_id)
        if connection is None:
            return None
        accepted = await count_accepted(session, connection_id)
        known = connection.learned_job_limit
        # NOTE: the limit never rises again by itself, even after a plan upgrade; clearing
        # learned_job_limit on the connection forgets it.
        if accepted < 1 or (known is not None and known <= accepted):
            return known
        connection.learned_job_limit = accepted
    log.warning(
        "connection %s: Midjourney's queue was full with %d of our jobs accepted; "
        "keeping at most that many in flight from now on",
        connection_id,
        accepted,
    )
    return accepted


async def read_job_limit(session: AsyncSession, connection_id: int) -> int | None:
    """Return the connection's learned limit of jobs in flight; None until one is learned."""
    return await session.scalar(
        select(MidjourneyConnection.learned_job_limit).where(
            MidjourneyConnection.id == connection_id
        )
    )
