"""A batch with one row, one job, its image rows and its output paths, for tests to store."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    Image,
    ImageKind,
    Job,
    JobStatus,
    RowStatus,
    SheetRow,
)


@dataclass
class BatchRows:
    """The ids and storage places of a batch added by ``add_batch_with_images``."""

    batch_id: int
    job_id: str
    image_keys: list[str]
    zip_path: Path
    report_path: Path


async def add_batch_with_images(
    session: AsyncSession,
    *,
    user_id: int,
    prompt: str,
    source_filename: str,
    outputs_dir: Path,
    finished_at: datetime | None,
    downloaded_at: datetime | None = None,
    upscales: int = 0,
    batch_id: int | None = None,
) -> BatchRows:
    """Add a web batch with an accepted row, a job, a grid and ``upscales`` upscale images.

    The batch is done when ``finished_at`` is given, else running. Its ZIP and report
    keys point into ``outputs_dir``, but neither the files nor the blobs are written.
    ``batch_id`` sets the batch's id instead of the database choosing it.
    """
    batch = Batch(
        id=batch_id,
        user_id=user_id,
        origin=BatchOrigin.WEB,
        status=BatchStatus.DONE if finished_at else BatchStatus.RUNNING,
        source_filename=source_filename,
        finished_at=finished_at,
        downloaded_at=downloaded_at,
    )
    session.add(batch)
    await session.flush()
    row = SheetRow(
        batch_id=batch.id, row_number=2, values={"prompt": prompt}, status=RowStatus.ACCEPTED
    )
    session.add(row)
    await session.flush()
    job = Job(
        id=str(uuid.uuid4()),
        batch_id=batch.id,
        row_id=row.id,
        sequence=0,
        prompt=prompt,
        status=JobStatus.DONE,
    )
    session.add(job)

    image_keys = [f"batches/{batch.id}/{job.id}/grid.png"]
    image_keys += [f"batches/{batch.id}/{job.id}/upscale-{n}.png" for n in range(1, upscales + 1)]
    for index, key in enumerate(image_keys):
        kind = ImageKind.GRID if index == 0 else ImageKind.UPSCALE
        session.add(Image(job_id=job.id, kind=kind, index=index, blob_key=key, size=3))

    outputs = outputs_dir / str(batch.id)
    zip_path = outputs / f"batch-{batch.id}-images.zip"
    report_path = outputs / f"batch-{batch.id}-report.xlsx"
    batch.zip_keys = [str(zip_path)]
    batch.report_key = str(report_path)
    await session.flush()
    return BatchRows(batch.id, job.id, image_keys, zip_path, report_path)
