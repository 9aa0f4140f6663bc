"""Batch rows in storage: turn a checked sheet into batch, row and job rows; count progress."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.intake.model import SheetIntake
from pipeline.intake.model import SheetRow as IntakeRow
from pipeline.progress import BatchOptions, BatchProgress
from storage.models import (
    FINAL_JOB_STATUSES,
    Batch,
    BatchOrigin,
    BatchStatus,
    Job,
    JobStatus,
    RowStatus,
    SheetRow,
    utcnow,
)

# Batches that still need the engine: jobs to send or track, or packaging to do.
OPEN_BATCH_STATUSES = frozenset(
    {
        BatchStatus.AWAITING_CONFIRMATION,
        BatchStatus.QUEUED,
        BatchStatus.RUNNING,
        BatchStatus.PACKAGING,
    }
)
# Batches whose queued jobs the dispatcher may send.
DISPATCHABLE_BATCH_STATUSES = (BatchStatus.QUEUED, BatchStatus.RUNNING)
# Sheet rows stored per flush: enough for few round trips, small enough to bound the
# ORM objects a big sheet keeps in memory while it is stored.
INSERT_CHUNK_ROWS = 200


def is_finished(batch: Batch) -> bool:
    """Return whether the batch has ended and its outputs are written (or it never will run)."""
    return batch.finished_at is not None and batch.status not in OPEN_BATCH_STATUSES


def options_to_json(options: BatchOptions) -> dict[str, Any]:
    """Return batch options in the form stored in ``Batch.options``."""
    data = asdict(options)
    data["default_upscales"] = list(options.default_upscales)
    return data


def options_from_json(data: dict[str, Any]) -> BatchOptions:
    """Read batch options stored by ``options_to_json``, tolerating missing keys."""
    return BatchOptions(
        default_upscales=tuple(int(index) for index in data.get("default_upscales") or ()),
        split_grids=bool(data.get("split_grids", False)),
        mode=str(data.get("mode") or "fast"),
    )


def row_upscales(row: IntakeRow, options: BatchOptions) -> list[int]:
    """Return a row's upscales: its own cell when filled ("none" too), else the batch default."""
    chosen = row.upscales if row.upscales_set else options.default_upscales
    return sorted(set(chosen))


async def insert_batch(
    session: AsyncSession,
    *,
    user_id: int,
    intake: SheetIntake,
    options: BatchOptions,
    origin: BatchOrigin,
    connection_id: int | None,
    discord_channel_id: str | None,
    confirmed: bool,
) -> Batch:
    """Add a batch with one row per sheet row and one job per prompt × repeat; return the batch.

    Rows and jobs are flushed a chunk at a time and not kept, so storing a big sheet holds
    one chunk of ORM objects in memory rather than all of them. The returned batch's ``rows``
    and ``jobs`` are not loaded.
    """
    batch = Batch(
        user_id=user_id,
        connection_id=connection_id,
        origin=origin,
        status=BatchStatus.QUEUED if confirmed else BatchStatus.AWAITING_CONFIRMATION,
        source_filename=intake.filename,
        sheet_name=intake.sheet_name,
        headers=list(intake.headers),
        options=options_to_json(options),
        discord_channel_id=discord_channel_id,
    )
    session.add(batch)
    await session.flush()

    sequence = 0
    for start in range(0, len(intake.rows), INSERT_CHUNK_ROWS):
        chunk = intake.rows[start : start + INSERT_CHUNK_ROWS]
        sequence = await _insert_rows(session, batch.id, chunk, options, connection_id, sequence)
    return batch


async def _insert_rows(
    session: AsyncSession,
    batch_id: int,
    intake_rows: Sequence[IntakeRow],
    options: BatchOptions,
    connection_id: int | None,
    sequence: int,
) -> int:
    """Flush the rows of one chunk, then their jobs; return the next job sequence number."""
    rows = [
        SheetRow(
            batch_id=batch_id,
            row_number=intake_row.number,
            values=dict(intake_row.values),
            status=RowStatus(intake_row.status),
            reason=intake_row.reason,
            upscales=row_upscales(intake_row, options),
            variations=list(intake_row.variations),
            filename=intake_row.filename,
            folder=intake_row.folder,
        )
        for intake_row in intake_rows
    ]
    session.add_all(rows)
    await session.flush()

    for intake_row, row in zip(intake_rows, rows, strict=True):
        if row.status != RowStatus.ACCEPTED:
            continue
        for permutation_index, built_prompt in enumerate(intake_row.prompts):
            prompt, mode = prompt_with_speed(built_prompt, intake_row.mode, options.mode)
            for repeat_index in range(intake_row.repeat):
                job = Job(
                    id=str(uuid.uuid4()),
                    batch_id=batch_id,
                    row_id=row.id,
                    connection_id=connection_id,
                    sequence=sequence,
                    repeat_index=repeat_index,
                    permutation_index=permutation_index,
                    prompt=prompt,
                    mode=mode,
                    status=JobStatus.QUEUED,
                    upscales_pending=list(row.upscales),
                    variations_pending=sorted(set(row.variations)),
                )
                session.add(job)
                sequence += 1
    await session.flush()
    return sequence


# Midjourney's per-job speed parameters and the mode each selects.
SPEED_FLAGS = {"--fast": "fast", "--relax": "relax", "--turbo": "turbo"}


def prompt_with_speed(prompt: str, row_mode: str, batch_mode: str) -> tuple[str, str]:
    """Return the prompt to send and the speed mode it runs in.

    A speed flag written in the prompt wins. Otherwise a mode chosen in the row, or a batch
    default other than fast, is added as a flag: without it Midjourney runs the job in the
    account's own mode, and the dispatcher would count it against the wrong slots.
    """
    for word in prompt.split():
        if word in SPEED_FLAGS:
            return prompt, SPEED_FLAGS[word]
    mode = row_mode or batch_mode or "fast"
    if row_mode or mode != "fast":
        return f"{prompt} --{mode}", mode
    return prompt, mode


def prompt_in_mode(prompt: str, mode: str) -> str:
    """Return ``prompt`` with its speed flag set to ``mode``, replacing any other one."""
    flag = f"--{mode}"
    if _SPEED_FLAG.search(prompt) is None:
        return f"{prompt} {flag}"
    return _SPEED_FLAG.sub(flag, prompt)


_SPEED_FLAG = re.compile(r"(?<!\S)--(?:fast|relax|turbo)(?!\S)")


async def count_jobs_by_status(session: AsyncSession, batch_id: int) -> dict[JobStatus, int]:
    """Return how many jobs of a batch are in each status."""
    result = await session.execute(
        select(Job.status, func.count()).where(Job.batch_id == batch_id).group_by(Job.status)
    )
    return {JobStatus(status): count for status, count in result.all()}


async def read_progress(session: AsyncSession, batch_id: int) -> BatchProgress:
    """Return the progress of a batch; raise LookupError for an unknown batch."""
    batch = await session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"batch {batch_id} not found")
    counts = await count_jobs_by_status(session, batch_id)
    return progress_from_counts(batch, counts)


def progress_from_counts(batch: Batch, counts: dict[JobStatus, int]) -> BatchProgress:
    """Build a BatchProgress from a batch and its job counts."""
    running = sum(
        counts.get(status, 0)
        for status in (
            JobStatus.SUBMITTED,
            JobStatus.WAITING,
            JobStatus.RUNNING,
            JobStatus.UPSCALING,
        )
    )
    progress = BatchProgress(
        batch_id=batch.id,
        status=batch.status.value,
        total=sum(counts.values()),
        done=counts.get(JobStatus.DONE, 0),
        failed=counts.get(JobStatus.FAILED, 0),
        running=running,
        queued=counts.get(JobStatus.QUEUED, 0),
        skipped=counts.get(JobStatus.SKIPPED, 0),
        cancelled=counts.get(JobStatus.CANCELLED, 0),
        discord_channel_id=batch.discord_channel_id,
        progress_message_id=batch.progress_message_id,
    )
    return _with_eta(progress, batch)


def _with_eta(progress: BatchProgress, batch: Batch) -> BatchProgress:
    # An estimate from the batch's own pace so far: elapsed time per finished job.
    remaining = progress.total - progress.finished
    if batch.started_at is None or progress.finished == 0 or remaining == 0:
        return progress
    elapsed = (utcnow() - batch.started_at).total_seconds()
    eta = elapsed / progress.finished * remaining
    return BatchProgress(**{**asdict(progress), "eta_seconds": round(eta, 1)})


async def list_open_batch_ids(session: AsyncSession, user_id: int) -> list[int]:
    """Return the ids of a user's batches that are not finished, oldest first."""
    result = await session.scalars(
        select(Batch.id)
        .where(Batch.user_id == user_id, Batch.finished_at.is_(None))
        .where(Batch.status.in_([*OPEN_BATCH_STATUSES, BatchStatus.CANCELLED]))
        .order_by(Batch.id)
    )
    return list(result)


async def list_job_ids(
    session: AsyncSession, batch_id: int, statuses: Sequence[JobStatus]
) -> list[str]:
    """Return the ids of a batch's jobs in the given statuses."""
    result = await session.scalars(
        select(Job.id).where(Job.batch_id == batch_id, Job.status.in_(list(statuses)))
    )
    return list(result)


async def list_settled_batch_ids(session: AsyncSession) -> list[int]:
    """Return unfinished, started batches whose jobs are all final, ready to package."""
    unfinished_jobs = (
        select(Job.id)
        .where(Job.batch_id == Batch.id, Job.status.not_in(list(FINAL_JOB_STATUSES)))
        .exists()
    )
    result = await session.scalars(
        select(Batch.id)
        .where(Batch.finished_at.is_(None), ~unfinished_jobs)
        .where(
            Batch.status.in_(
                [
                    BatchStatus.QUEUED,
                    BatchStatus.RUNNING,
                    BatchStatus.PACKAGING,
                    BatchStatus.CANCELLED,
                ]
            )
        )
        .order_by(Batch.id)
    )
    return list(result)
