"""Retry the failed rows of a finished batch as a new batch.

The new batch takes the rows whose jobs failed or were cancelled, with their original
row numbers and cells, and one new job for each such job, built from the prompt that job
stored. Jobs of those rows that ended done or skipped are not run again. Invalid rows
are left out, because they would fail the same way until the user fixes them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from storage.models import Batch, BatchOrigin, BatchStatus, Job, JobStatus, RowStatus, SheetRow

RETRIED_JOB_STATUSES = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


@dataclass(frozen=True, slots=True)
class FinishedBatch:
    """A finished batch as offered for a retry."""

    batch_id: int
    status: str  # storage.models.BatchStatus value
    source_filename: str
    finished_at: datetime
    retryable_jobs: int  # failed and cancelled jobs of rows that were not invalid


@dataclass(frozen=True, slots=True)
class RetryBatch:
    """The batch made by a retry."""

    batch_id: int
    connection_id: int | None
    rows: int
    jobs: int


def retryable_jobs(row: SheetRow) -> list[Job]:
    """Return the jobs of a row that a retry sends again, in their batch order."""
    if row.status is not RowStatus.ACCEPTED:
        return []
    return [job for job in row.jobs if job.status in RETRIED_JOB_STATUSES]


async def load_finished_batch(session: AsyncSession, batch_id: int, user_id: int) -> Batch | None:
    """Return a user's finished batch with its rows and jobs, or None if there is none."""
    return await session.scalar(
        select(Batch)
        .where(Batch.id == batch_id, Batch.user_id == user_id, Batch.finished_at.is_not(None))
        .options(selectinload(Batch.rows).selectinload(SheetRow.jobs))
    )


async def insert_retry_batch(
    session: AsyncSession,
    source: Batch,
    *,
    connection_id: int | None,
    origin: BatchOrigin,
    discord_channel_id: str | None,
) -> RetryBatch | None:
    """Add a queued batch of the source batch's retryable jobs; None when it has none."""
    rows = [(row, jobs) for row in source.rows if (jobs := retryable_jobs(row))]
    if not rows:
        return None

    batch = Batch(
        user_id=source.user_id,
        connection_id=connection_id,
        origin=origin,
        status=BatchStatus.QUEUED,
        source_filename=source.source_filename,
        sheet_name=source.sheet_name,
        headers=list(source.headers),
        options=dict(source.options),
        discord_channel_id=discord_channel_id,
    )
    session.add(batch)
    await session.flush()

    sequence = 0
    for row, jobs in rows:
        copy = _copy_row(batch.id, row)
        session.add(copy)
        await session.flush()
        for job in jobs:
            session.add(_copy_job(batch.id, copy, job, connection_id, sequence))
            sequence += 1
    await session.flush()
    return RetryBatch(batch_id=batch.id, connection_id=connection_id, rows=len(rows), jobs=sequence)


def _copy_row(batch_id: int, row: SheetRow) -> SheetRow:
    return SheetRow(
        batch_id=batch_id,
        row_number=row.row_number,
        values=dict(row.values),
        status=RowStatus.ACCEPTED,
        reason="",
        upscales=list(row.upscales),
        variations=list(row.variations),
        filename=row.filename,
        folder=row.folder,
    )


def _copy_job(
    batch_id: int, row: SheetRow, job: Job, connection_id: int | None, sequence: int
) -> Job:
    # The stored prompt already carries the speed flag and permutation it was sent with.
    return Job(
        id=str(uuid.uuid4()),
        batch_id=batch_id,
        row_id=row.id,
        connection_id=connection_id,
        sequence=sequence,
        repeat_index=job.repeat_index,
        permutation_index=job.permutation_index,
        prompt=job.prompt,
        mode=job.mode,
        status=JobStatus.QUEUED,
        upscales_pending=list(row.upscales),
        variations_pending=sorted(set(row.variations)),
    )


async def list_finished_batches(
    session: AsyncSession, user_id: int, *, limit: int
) -> list[FinishedBatch]:
    """Return a user's most recently finished batches, newest first."""
    # Counted in SQL so that offering batches never loads their rows.
    retryable = (
        select(func.count(Job.id))
        .join(SheetRow, Job.row_id == SheetRow.id)
        .where(
            Job.batch_id == Batch.id,
            Job.status.in_(list(RETRIED_JOB_STATUSES)),
            SheetRow.status == RowStatus.ACCEPTED,
        )
        .correlate(Batch)
        .scalar_subquery()
    )
    result = await session.execute(
        select(Batch.id, Batch.status, Batch.source_filename, Batch.finished_at, retryable)
        .where(Batch.user_id == user_id, Batch.finished_at.is_not(None))
        .order_by(Batch.finished_at.desc(), Batch.id.desc())
        .limit(limit)
    )
    return [
        FinishedBatch(
            batch_id=batch_id,
            status=BatchStatus(status).value,
            source_filename=filename,
            finished_at=finished_at,
            retryable_jobs=count,
        )
        for batch_id, status, filename, finished_at, count in result.all()
    ]
