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
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.orm import selectinload

from pipeline.packager.archive import ArchiveFile, plan_parts, write_zip
from pipeline.packager.contents import BatchTally, failed_row_cells, image_refs, report_lines
from pipeline.packager.naming import ImageRef, assign_archive_names
from pipeline.packager.report import CellValue, ReportLines, write_report
from pipeline.progress import BatchSummary
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Batch, Image, Job, MidjourneyConnection, SheetRow

log = logging.getLogger(__name__)

# Sheet rows read from the database at a time while packaging: enough for few round trips,
# few enough that a batch of any size packages in about the same memory.
ROWS_PER_CHUNK = 500
# Image names stored per UPDATE statement.
NAMES_PER_UPDATE = 1000


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
    rows_per_chunk: int = ROWS_PER_CHUNK,
) -> Package:
    """Write the batch's report and ZIP part(s) into ``out_dir`` and store the image names.

    The rows are read twice, ``rows_per_chunk`` at a time: first to name the images and
    add up the totals, then to write the report's lines.
    """
    if part_limit_bytes <= 0:
        raise ValueError(f"part_limit_bytes must be positive, not {part_limit_bytes}")
    batch, connections = await _load_batch(db, batch_id)
    out_dir = Path(out_dir)

    survey = await _survey(db, blobs, batch_id, rows_per_chunk)
    names = assign_archive_names(survey.refs, reserved=[report_filename(batch_id)])
    await _store_archive_names(db, names)
    summary = survey.tally.summary(batch, images=len(names))
    notices = survey.notices
    items = survey.tally.summary_items(batch, summary, notices)

    # Creating the temporary files is blocking work too, so it runs in a thread.
    lines = await asyncio.to_thread(ReportLines, [str(header) for header in batch.headers])
    try:
        async for rows in _row_chunks(db, batch_id, rows_per_chunk):
            chunk = report_lines(batch, rows, connections, names)
            await asyncio.to_thread(lines.append, chunk, failed_row_cells(batch, rows))
        images = _archive_files(blobs, survey.refs, names, survey.sizes)
        zip_paths, part_notices = await asyncio.to_thread(
            write_outputs, out_dir, batch_id, lines, items, images, part_limit_bytes
        )
    finally:
        lines.close()
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
    report_path = out_dir / report_filename(batch_id)
    return Package(zip_paths=zip_paths, report_path=report_path, summary=summary, notices=notices)


@dataclass
class _Survey:
    """The totals, images and missing files that the first read of a batch's rows gathers."""

    tally: BatchTally = field(default_factory=BatchTally)
    refs: list[ImageRef] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)  # blob key -> size, present blobs only
    notices: list[str] = field(default_factory=list)


async def _survey(
    db: Database, blobs: LocalBlobStore, batch_id: int, rows_per_chunk: int
) -> _Survey:
    survey = _Survey()
    async for rows in _row_chunks(db, batch_id, rows_per_chunk):
        survey.tally.add(rows)
        present = await _measure_images(blobs, rows)
        survey.notices += _missing_images(rows, present)
        survey.refs += image_refs(rows, present)
        survey.sizes |= present
    return survey


async def _load_batch(db: Database, batch_id: int) -> tuple[Batch, dict[int, MidjourneyConnection]]:
    """Return the batch without its rows, and the connections its jobs ran on, by id."""
    async with db.sessions() as session:
        batch = await session.get(Batch, batch_id)
        if batch is None:
            raise PackagingError(f"batch {batch_id} not found")
        job_connections = select(Job.connection_id).where(Job.batch_id == batch_id).distinct()
        connections = await session.scalars(
            select(MidjourneyConnection).where(
                or_(
                    MidjourneyConnection.id.in_(job_connections),
                    MidjourneyConnection.id == batch.connection_id,
                )
            )
        )
        return batch, {connection.id: connection for connection in connections}


async def _row_chunks(
    db: Database, batch_id: int, rows_per_chunk: int
) -> AsyncIterator[list[SheetRow]]:
    """Yield the batch's rows with their jobs and images, in sheet order, a chunk at a time.

    Each chunk is read in a session of its own, so the rows of one chunk are freed when
    the next is read.
    """
    after = (-1, -1)
    while True:
        async with db.sessions() as session:
            rows = list(
                await session.scalars(
                    select(SheetRow)
                    .where(SheetRow.batch_id == batch_id)
                    .where(tuple_(SheetRow.row_number, SheetRow.id) > tuple_(*after))
                    .order_by(SheetRow.row_number, SheetRow.id)
                    .limit(rows_per_chunk)
                    .options(selectinload(SheetRow.jobs).selectinload(Job.images))
                )
            )
        if not rows:
            return
        yield rows
        after = (rows[-1].row_number, rows[-1].id)


def _missing_images(rows: Sequence[SheetRow], present: Mapping[str, int]) -> list[str]:
    return [
        f"row {row.row_number}: image {image.blob_key} is missing from the blob store"
        for row in rows
        for job in row.jobs
        for image in job.images
        if image.blob_key not in present
    ]


async def _measure_images(blobs: LocalBlobStore, rows: Sequence[SheetRow]) -> dict[str, int]:
    keys = [image.blob_key for row in rows for job in row.jobs for image in job.images]
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
    items = list(names.items())
    async with db.sessions() as session, session.begin():
        # In slices, so the statement's parameters for a big batch are never all in memory.
        for start in range(0, len(items), NAMES_PER_UPDATE):
            await session.execute(
                update(Image),
                [
                    {"id": image_id, "archive_name": name}
                    for image_id, name in items[start : start + NAMES_PER_UPDATE]
                ],
            )


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


def write_outputs(
    out_dir: Path,
    batch_id: int,
    lines: ReportLines,
    summary: Sequence[tuple[str, CellValue]],
    images: Sequence[ArchiveFile],
    part_limit_bytes: int,
) -> tuple[list[Path], list[str]]:
    """Write the report and the ZIP part(s); return the ZIP paths and notices on the split."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / report_filename(batch_id)
    write_report(report_path, lines, summary)

    report_file = ArchiveFile(report_path.name, report_path, report_path.stat().st_size)
    plan = plan_parts(images, report_file, part_limit_bytes)
    _remove_earlier_zips(out_dir, batch_id)

    paths = []
    for number, files in enumerate(plan.parts, start=1):
        name = f"batch-{batch_id}-images"
        name += f"-part{number}.zip" if len(plan.parts) > 1 else ".zip"
        path = out_dir / name
        write_zip(path, files)
        paths.append(path)
    return paths, plan.notices


def _remove_earlier_zips(out_dir: Path, batch_id: int) -> None:
    # A new run may make fewer parts than the last one; stale parts would mislead.
    for path in out_dir.glob(f"batch-{batch_id}-images*.zip"):
        path.unlink(missing_ok=True)
