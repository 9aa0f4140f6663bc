"""Database reads for the dashboard, each limited to the objects one user owns.

Every lookup takes the user's id and returns None for an object of another user, so a
handler returns 404 without revealing whether the object exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from pipeline.accounts import list_user_connections
from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    ConnectionState,
    FailureCategory,
    Image,
    Job,
    JobStatus,
    MidjourneyConnection,
    RowStatus,
    SheetRow,
)

# Batches listed on one page of the dashboard, and sheet rows on one page of a batch.
BATCHES_PER_PAGE = 50
ROWS_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class BatchLine:
    """One batch in the dashboard's list."""

    batch_id: int
    source_filename: str
    origin: BatchOrigin
    status: BatchStatus
    created_at: datetime
    finished_at: datetime | None
    jobs_total: int
    jobs_done: int
    jobs_failed: int


@dataclass(frozen=True, slots=True)
class ImageLink:
    """A stored result image of a job, shown as a thumbnail."""

    image_id: int
    label: str  # "grid", "upscale 2", ...


@dataclass(frozen=True, slots=True)
class JobLine:
    """One job of a row: its status, why it failed, and its images."""

    status: JobStatus
    failure_category: FailureCategory | None
    failure_message: str
    images: list[ImageLink]


@dataclass(frozen=True, slots=True)
class RowLine:
    """One sheet row of a batch, with its jobs."""

    number: int
    prompt: str
    status: RowStatus
    reason: str
    jobs: list[JobLine] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ConnectionChoice:
    """One of the user's Midjourney connections, as offered in the upload form."""

    connection_id: int
    label: str
    state: ConnectionState


async def list_batches(
    session: AsyncSession, user_id: int, *, before: int | None = None
) -> list[BatchLine]:
    """Return the user's batches, newest first, with their job counts."""
    query = select(Batch).where(Batch.user_id == user_id)
    if before is not None:
        query = query.where(Batch.id < before)
    batches = list(await session.scalars(query.order_by(Batch.id.desc()).limit(BATCHES_PER_PAGE)))
    counts = await _count_jobs(session, [batch.id for batch in batches])
    lines = []
    for batch in batches:
        by_status = counts.get(batch.id, {})
        lines.append(
            BatchLine(
                batch_id=batch.id,
                source_filename=batch.source_filename,
                origin=batch.origin,
                status=batch.status,
                created_at=batch.created_at,
                finished_at=batch.finished_at,
                jobs_total=sum(by_status.values()),
                jobs_done=by_status.get(JobStatus.DONE, 0),
                jobs_failed=by_status.get(JobStatus.FAILED, 0),
            )
        )
    return lines


async def _count_jobs(
    session: AsyncSession, batch_ids: Sequence[int]
) -> dict[int, dict[JobStatus, int]]:
    if not batch_ids:
        return {}
    result = await session.execute(
        select(Job.batch_id, Job.status, func.count())
        .where(Job.batch_id.in_(list(batch_ids)))
        .group_by(Job.batch_id, Job.status)
    )
    counts: dict[int, dict[JobStatus, int]] = {}
    for batch_id, status, count in result.all():
        counts.setdefault(batch_id, {})[JobStatus(status)] = count
    return counts


async def owned_batch(session: AsyncSession, batch_id: int, user_id: int) -> Batch | None:
    """Return the batch if it belongs to the user, else None."""
    return await session.scalar(select(Batch).where(Batch.id == batch_id, Batch.user_id == user_id))


async def count_rows(session: AsyncSession, batch_id: int) -> int:
    """Return how many sheet rows a batch has."""
    count = await session.scalar(
        select(func.count()).select_from(SheetRow).where(SheetRow.batch_id == batch_id)
    )
    return int(count or 0)


async def list_rows(session: AsyncSession, batch_id: int, *, page: int) -> list[RowLine]:
    """Return one page of a batch's rows in sheet order, with their jobs and images."""
    rows = await session.scalars(
        select(SheetRow)
        .where(SheetRow.batch_id == batch_id)
        .order_by(SheetRow.row_number)
        .offset(page * ROWS_PER_PAGE)
        .limit(ROWS_PER_PAGE)
        .options(selectinload(SheetRow.jobs).selectinload(Job.images))
    )
    return [_row_line(row) for row in rows]


def _row_line(row: SheetRow) -> RowLine:
    jobs = [
        JobLine(
            status=job.status,
            failure_category=job.failure_category,
            failure_message=job.failure_message,
            images=[ImageLink(image.id, _image_label(image)) for image in job.images],
        )
        for job in row.jobs
    ]
    prompt = row.jobs[0].prompt if row.jobs else _prompt_cell(row.values)
    return RowLine(row.row_number, prompt, row.status, row.reason, jobs)


def _prompt_cell(values: dict[str, object]) -> str:
    for header, value in values.items():
        if header.strip().casefold() == "prompt":
            return str(value or "")
    return ""


def _image_label(image: Image) -> str:
    return f"{image.kind.value} {image.index}" if image.index else image.kind.value


async def owned_image(session: AsyncSession, image_id: int, user_id: int) -> Image | None:
    """Return the image if the batch it belongs to is the user's, else None."""
    return await session.scalar(
        select(Image)
        .join(Job, Image.job_id == Job.id)
        .join(Batch, Job.batch_id == Batch.id)
        .where(Image.id == image_id, Batch.user_id == user_id)
    )


async def list_connection_choices(session: AsyncSession, user_id: int) -> list[ConnectionChoice]:
    """Return the user's connections for the upload form, oldest first."""
    connections = await list_user_connections(session, user_id)
    return [
        ConnectionChoice(connection.id, _connection_label(connection), connection.state)
        for connection in connections
    ]


def _connection_label(connection: MidjourneyConnection) -> str:
    name = connection.label or f"channel {connection.channel_id}"
    return f"{name} ({connection.plan} plan)"


async def owned_connection_id(
    session: AsyncSession, connection_id: int, user_id: int
) -> int | None:
    """Return the connection's id if it belongs to the user, else None."""
    return await session.scalar(
        select(MidjourneyConnection.id).where(
            MidjourneyConnection.id == connection_id, MidjourneyConnection.user_id == user_id
        )
    )
