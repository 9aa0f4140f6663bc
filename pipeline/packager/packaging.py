"""Package a settled batch: name its images, then write the Excel report and the ZIP part(s).

Outputs in ``out_dir``, for batch 41:

- ``batch-41-report.xlsx``, the report;
- ``batch-41-images.zip``, or ``batch-41-images-part1.zip``, ``-part2.zip``, ... when the
  whole would exceed the part limit. Each ZIP contains the report and the images, named
  as ``pipeline.packager.naming`` describes.

The database work runs on the event loop; measuring blobs and writing the files run in
a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import selectinload

from pipeline.packager.archive import ArchiveFile, plan_parts, write_zip
from pipeline.packager.contents import (
    failed_row_cells,
    image_refs,
    report_lines,
    summarize,
    summary_items,
)
from pipeline.packager.naming import ImageRef, assign_archive_names
from pipeline.packager.report import CellValue, ReportLine, write_report
from pipeline.progress import BatchSummary
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Batch, Image, Job, MidjourneyConnection, SheetRow

log = logging.getLogger(__name__)


class PackagingError(Exception):
    """The batch cannot be packaged, for the reason in the message."""


@dataclass(frozen=True, slots=True)
class Package:
    """The output files of a batch and its totals."""

    zip_paths: list[Path]
    report_path: Path
    summary: BatchSummary
    # Things the user should know about the outputs: missing images, oversized parts.
    notices: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutputPlan:
    """Everything the file writing needs, as plain values."""

    out_dir: Path
    batch_id: int
    headers: tuple[str, ...]
    lines: list[ReportLine]
    summary: list[tuple[str, CellValue]]
    images: list[ArchiveFile]
    part_limit_bytes: int
    failed_rows: list[tuple[CellValue, ...]] = field(default_factory=list)


def report_filename(batch_id: int) -> str:
    """Return the report's file name, in ``out_dir`` and inside the ZIP."""
    return f"batch-{batch_id}-report.xlsx"


async def package_batch(
    db: Database,
    blobs: LocalBlobStore,
    batch_id: int,
    out_dir: Path,
    *,
    part_limit_bytes: int,
) -> Package:
    """Write the batch's report and ZIP part(s) into ``out_dir`` and store the image names."""
    if part_limit_bytes <= 0:
        raise ValueError(f"part_limit_bytes must be positive, not {part_limit_bytes}")
    batch, connections = await _load_batch(db, batch_id)

    sizes = await _measure_images(blobs, batch)
    notices = [
        f"row {row.row_number}: image {image.blob_key} is missing from the blob store"
        for row in batch.rows
        for job in row.jobs
        for image in job.images
        if image.blob_key not in sizes
    ]
    refs = image_refs(batch, sizes)
    names = assign_archive_names(refs, reserved=[report_filename(batch_id)])
    await _store_archive_names(db, names)

    summary = summarize(batch, images=len(names))
    outputs = OutputPlan(
        out_dir=Path(out_dir),
        batch_id=batch_id,
        headers=tuple(str(header) for header in batch.headers),
        lines=report_lines(batch, connections, names),
        summary=summary_items(batch, summary, notices),
        images=_archive_files(blobs, refs, names, sizes),
        part_limit_bytes=part_limit_bytes,
        failed_rows=failed_row_cells(batch),
    )
    zip_paths, part_notices = await write_outputs(outputs)
    notices += part_notices

    for notice in notices:
        log.warning("batch %s: %s", batch_id, notice)
    log.info(
        "packaged batch %s: %d images in %d ZIP part(s), %d rows",
        batch_id,
        summary.images,
        len(zip_paths),
        summary.rows_total,
    )
    report_path = outputs.out_dir / report_filename(batch_id)
    return Package(zip_paths=zip_paths, report_path=report_path, summary=summary, notices=notices)


async def _load_batch(db: Database, batch_id: int) -> tuple[Batch, dict[int, MidjourneyConnection]]:
    async with db.sessions() as session:
        batch = await session.scalar(
            select(Batch)
            .where(Batch.id == batch_id)
            .options(selectinload(Batch.rows).selectinload(SheetRow.jobs).selectinload(Job.images))
        )
        if batch is None:
            raise PackagingError(f"batch {batch_id} not found")

        connection_ids = {job.connection_id for row in batch.rows for job in row.jobs}
        connection_ids.add(batch.connection_id)
        connection_ids.discard(None)
        connections = await session.scalars(
            select(MidjourneyConnection).where(MidjourneyConnection.id.in_(connection_ids))
        )
        return batch, {connection.id: connection for connection in connections}


async def _measure_images(blobs: LocalBlobStore, batch: Batch) -> dict[str, int]:
    keys = [image.blob_key for row in batch.rows for job in row.jobs for image in job.images]
    return await asyncio.to_thread(_blob_sizes, blobs, keys)


def _blob_sizes(blobs: LocalBlobStore, keys: Sequence[str]) -> dict[str, int]:
    sizes = {}
    for key in keys:
        try:
            sizes[key] = blobs.path(key).stat().st_size
        except (OSError, ValueError):
            continue  # reported as missing
    return sizes


async def _store_archive_names(db: Database, names: dict[int, str]) -> None:
    if not names:
        return
    async with db.sessions() as session:
        await session.execute(
            update(Image),
            [{"id": image_id, "archive_name": name} for image_id, name in names.items()],
        )
        await session.commit()


def _archive_files(
    blobs: LocalBlobStore, refs: Sequence[ImageRef], names: dict[int, str], sizes: dict[str, int]
) -> list[ArchiveFile]:
    files = [
        ArchiveFile(
            name=names[ref.image_id], path=blobs.path(ref.blob_key), size=sizes[ref.blob_key]
        )
        for ref in refs
    ]
    return sorted(files, key=lambda file: file.name.casefold())


async def write_outputs(outputs: OutputPlan) -> tuple[list[Path], list[str]]:
    """Write the report and the ZIP part(s); return the ZIP paths and notices about the split."""
    return await asyncio.to_thread(_write_outputs, outputs)


def _write_outputs(outputs: OutputPlan) -> tuple[list[Path], list[str]]:
    out_dir = outputs.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / report_filename(outputs.batch_id)
    write_report(report_path, outputs.headers, outputs.lines, outputs.summary, outputs.failed_rows)

    report = ArchiveFile(report_path.name, report_path, report_path.stat().st_size)
    plan = plan_parts(outputs.images, report, outputs.part_limit_bytes)
    _remove_earlier_zips(out_dir, outputs.batch_id)

    paths = []
    for number, files in enumerate(plan.parts, start=1):
        name = f"batch-{outputs.batch_id}-images"
        name += f"-part{number}.zip" if len(plan.parts) > 1 else ".zip"
        path = out_dir / name
        write_zip(path, files)
        paths.append(path)
    return paths, plan.notices


def _remove_earlier_zips(out_dir: Path, batch_id: int) -> None:
    # A new run may make fewer parts than the last one; stale parts would mislead.
    for path in out_dir.glob(f"batch-{batch_id}-images*.zip"):
        path.unlink(missing_ok=True)
