"""Packaging a settled batch: ZIP entries and bytes, the Excel report, part splitting."""

from __future__ import annotations

import asyncio
import io
import posixpath
import random
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from PIL import Image as PillowImage
from sqlalchemy import select

from pipeline.packager import Package, PackagingError, package_batch
from pipeline.packager.report import JOB_COLUMNS
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    FailureCategory,
    Image,
    ImageKind,
    Job,
    JobStatus,
    MidjourneyConnection,
    RowStatus,
    SheetRow,
    User,
)

HEADERS = ["prompt", "filename", "folder", "notes"]
GUILD, CHANNEL = "1100", "2200"
T0 = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
LARGE_LIMIT = 100 * 1024 * 1024
INJECTIONS = [
    '=HYPERLINK("http://evil.test","x")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "  =1+1",
    "\t=x",
    "\r=y",
]


@dataclass
class JobSpec:
    status: JobStatus
    images: list[tuple[ImageKind, int]] = field(default_factory=list)
    prompt: str = ""
    repeat: int = 0
    permutation: int = 0
    category: FailureCategory | None = None
    message: str = ""


@dataclass
class RowSpec:
    number: int
    prompt: str
    jobs: list[JobSpec]
    filename: str = ""
    folder: str = ""
    notes: str = ""
    status: RowStatus = RowStatus.ACCEPTED
    reason: str = ""


ROWS = [
    RowSpec(
        2,
        "Misty valley at dawn --ar 16:9",
        [
            JobSpec(
                JobStatus.DONE,
                [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 1), (ImageKind.UPSCALE, 2)],
            )
        ],
        folder="landscapes",
    ),
    RowSpec(
        3,
        "a lighthouse",
        [
            JobSpec(JobStatus.DONE, [(ImageKind.GRID, 0)], repeat=0),
            JobSpec(JobStatus.DONE, [(ImageKind.GRID, 0)], repeat=1),
        ],
        filename="hero",
    ),
    RowSpec(
        4,
        "a {red, blue} bird",
        [
            JobSpec(
                JobStatus.DONE,
                [(ImageKind.GRID, 0)] + [(ImageKind.QUADRANT, n) for n in range(1, 5)],
                prompt="a red bird",
                permutation=0,
            ),
            JobSpec(
                JobStatus.FAILED,
                [(ImageKind.GRID, 0)],
                prompt="a blue bird",
                permutation=1,
                category=FailureCategory.MODERATED,
                message="Banned prompt detected",
            ),
        ],
    ),
    RowSpec(
        5,
        "=cmd|' /C calc'!A0",
        [
            JobSpec(
                JobStatus.FAILED,
                category=FailureCategory.MIDJOURNEY_ERROR,
                message="-Internal error, try again",
            )
        ],
        notes=INJECTIONS[0],
    ),
    RowSpec(6, "a cancelled cat", [JobSpec(JobStatus.CANCELLED)], notes=INJECTIONS[1]),
    RowSpec(
        7,
        "a skipped dog",
        [JobSpec(JobStatus.SKIPPED, message="daily cap reached")],
        notes=INJECTIONS[2],
    ),
    RowSpec(
        8,
        "bad --foo 1",
        [],
        status=RowStatus.INVALID,
        reason="unknown parameter --foo",
        notes=INJECTIONS[3],
    ),
    RowSpec(
        9, "turned off", [], status=RowStatus.SKIPPED, reason="enabled is no", notes=INJECTIONS[4]
    ),
    RowSpec(
        10,
        "hostile names",
        [JobSpec(JobStatus.DONE, [(ImageKind.GRID, 0)])],
        filename="../../etc/passwd",
        folder="CON/a:b/../..",
        notes=INJECTIONS[5],
    ),
    RowSpec(
        11,
        "a variation",
        [JobSpec(JobStatus.DONE, [(ImageKind.GRID, 0), (ImageKind.VARIATION, 1)])],
        filename="v" * 200,
        notes=INJECTIONS[6],
    ),
    RowSpec(
        12,
        "slow one",
        [
            JobSpec(
                JobStatus.FAILED, category=FailureCategory.TIMED_OUT, message="no reply in 600 s"
            )
        ],
    ),
]

EXPECTED_IMAGE_NAMES = {
    "landscapes/002-misty-valley-at-dawn_grid.png",
    "landscapes/002-misty-valley-at-dawn_U1.png",
    "landscapes/002-misty-valley-at-dawn_U2.png",
    "003-hero_r1_grid.png",
    "003-hero_r2_grid.png",
    "004-a-red-bird_p1_grid.png",
    "004-a-red-bird_p1_1.png",
    "004-a-red-bird_p1_2.png",
    "004-a-red-bird_p1_3.png",
    "004-a-red-bird_p1_4.png",
    # Each permutation is named after its own prompt.
    "004-a-blue-bird_p2_grid.png",
    "_CON/a-b/010-etc-passwd_grid.png",
    f"011-{'v' * 60}_grid.png",
    f"011-{'v' * 60}_V1.png",
}


@dataclass
class StoredBatch:
    batch_id: int
    blobs: dict[str, bytes]  # blob key -> bytes
    jobs: dict[tuple[int, int], Job]  # (row number, job position in row) -> job
    image_keys: dict[int, str]  # image id -> blob key


def png_bytes(seed: int, size: int = 48) -> bytes:
    """Return a PNG of random pixels, which PNG cannot compress much."""
    noise = random.Random(seed).randbytes(size * size * 3)
    buffer = io.BytesIO()
    PillowImage.frombytes("RGB", (size, size), noise).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db' / 'midjau.db'}")
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def store_batch(db: Database, blobs: LocalBlobStore) -> StoredBatch:
    """Store the ROWS batch with PNG blobs for every image."""
    stored = StoredBatch(batch_id=0, blobs={}, jobs={}, image_keys={})
    async with db.sessions() as session:
        user = User(discord_user_id="42", display_name="Tester")
        connection = MidjourneyConnection(
            user=user, guild_id=GUILD, channel_id=CHANNEL, token_ciphertext=b"x"
        )
        session.add_all([user, connection])
        await session.flush()
        batch = Batch(
            user_id=user.id,
            connection_id=connection.id,
            origin=BatchOrigin.DEMO,
            status=BatchStatus.PACKAGING,
            source_filename="prompts.xlsx",
            sheet_name="Prompts",
            headers=HEADERS,
            created_at=T0 - timedelta(minutes=1),
            started_at=T0,
            finished_at=T0 + timedelta(minutes=30),
        )
        session.add(batch)
        sequence = 0
        for spec in ROWS:
            row = SheetRow(
                batch=batch,
                row_number=spec.number,
                values={
                    "prompt": spec.prompt,
                    "filename": spec.filename,
                    "folder": spec.folder,
                    "notes": spec.notes,
                },
                status=spec.status,
                reason=spec.reason,
                filename=spec.filename,
                folder=spec.folder,
            )
            session.add(row)
            for position, job_spec in enumerate(spec.jobs):
                sequence += 1
                job = make_job(batch, row, connection.id, sequence, spec, job_spec)
                session.add(job)
                stored.jobs[(spec.number, position)] = job
                for kind, index in job_spec.images:
                    key = f"batches/{spec.number}/{job.id}/{kind.value}-{index}.png"
                    data = png_bytes(len(stored.blobs))
                    await blobs.put(key, data)
                    stored.blobs[key] = data
                    session.add(
                        Image(job=job, kind=kind, index=index, blob_key=key, size=len(data))
                    )
        await session.commit()
        stored.batch_id = batch.id
        images = await session.scalars(select(Image))
        stored.image_keys = {image.id: image.blob_key for image in images}
    return stored


def make_job(
    batch: Batch, row: SheetRow, connection_id: int, sequence: int, spec: RowSpec, job_spec: JobSpec
) -> Job:
    sent = T0 + timedelta(seconds=10 * sequence)
    finished = job_spec.status in (JobStatus.DONE, JobStatus.FAILED)
    return Job(
        id=str(uuid.uuid4()),
        batch=batch,
        row=row,
        connection_id=connection_id,
        sequence=sequence,
        repeat_index=job_spec.repeat,
        permutation_index=job_spec.permutation,
        prompt=job_spec.prompt or spec.prompt,
        status=job_spec.status,
        failure_category=job_spec.category,
        failure_message=job_spec.message,
        attempts=1 if finished else 0,
        midjourney_job_id=str(uuid.UUID(int=sequence)) if job_spec.images else None,
        grid_message_id=str(900 + sequence) if job_spec.images else None,
        sent_at=sent if finished else None,
        started_at=sent + timedelta(seconds=2) if finished else None,
        finished_at=sent + timedelta(seconds=47.5) if finished else None,
    )


async def stored_names(db: Database) -> dict[str, str]:
    """Return blob key -> archive name, as stored on the images."""
    async with db.sessions() as session:
        images = await session.scalars(select(Image).order_by(Image.id))
        return {image.blob_key: image.archive_name for image in images}


@dataclass
class ZipContents:
    entries: list[str]
    data: dict[str, bytes]
    compress_types: set[int]
    first_bad_entry: str | None
    size: int


def _read_zip(path: Path) -> ZipContents:
    with zipfile.ZipFile(path) as archive:
        return ZipContents(
            entries=archive.namelist(),
            data={name: archive.read(name) for name in archive.namelist()},
            compress_types={info.compress_type for info in archive.infolist()},
            first_bad_entry=archive.testzip(),
            size=path.stat().st_size,
        )


async def read_zip(path: Path) -> ZipContents:
    """Read a whole ZIP in a thread, checking every entry's CRC."""
    return await asyncio.to_thread(_read_zip, path)


async def read_report(path: Path) -> Workbook:
    """Load the report workbook in a thread."""
    return await asyncio.to_thread(load_workbook, path)


async def file_bytes(path: Path) -> bytes:
    return await asyncio.to_thread(path.read_bytes)


async def test_zip_holds_every_image_and_report(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    out_dir = tmp_path / "out"

    package = await package_batch(db, blobs, stored.batch_id, out_dir, part_limit_bytes=LARGE_LIMIT)

    assert package.zip_paths == [out_dir / f"batch-{stored.batch_id}-images.zip"]
    assert package.report_path == out_dir / f"batch-{stored.batch_id}-report.xlsx"
    names = await stored_names(db)
    assert set(names.values()) == EXPECTED_IMAGE_NAMES
    archive = await read_zip(package.zip_paths[0])
    assert archive.first_bad_entry is None
    assert set(archive.entries) == EXPECTED_IMAGE_NAMES | {package.report_path.name}
    assert len(archive.entries) == len(set(archive.entries))
    for key, name in names.items():
        assert archive.data[name] == stored.blobs[key], name
    assert archive.data[package.report_path.name] == await file_bytes(package.report_path)
    assert archive.compress_types == {zipfile.ZIP_STORED}
    assert package.notices == []


async def test_zip_names_are_safe_and_unique(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    entries = (await read_zip(package.zip_paths[0])).entries
    assert len({entry.casefold() for entry in entries}) == len(entries)
    for entry in entries:
        segments = entry.split("/")
        assert not entry.startswith("/")
        assert "\\" not in entry
        assert ".." not in segments
        assert "." not in segments
        assert not any(character in entry for character in '<>:"|?*')
        assert all(segment == segment.rstrip(". ") for segment in segments)
        assert all(
            segment.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL"}
            for segment in segments
        )
        assert len(entry) <= 250
        assert posixpath.normpath(f"/extract/{entry}").startswith("/extract/")


async def test_report_has_line_per_job(db: Database, blobs: LocalBlobStore, tmp_path: Path) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    names = await stored_names(db)
    sheet = (await read_report(package.report_path))["Jobs"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == (*HEADERS, *JOB_COLUMNS)
    expected: list[tuple[Any, ...]] = []
    for spec in ROWS:
        original = (spec.prompt, spec.filename, spec.folder, spec.notes.replace("\r", "\n"))
        if not spec.jobs:
            category = "invalid" if spec.status is RowStatus.INVALID else ""
            blank = (None,) * 4
            expected.append(
                (
                    *original,
                    spec.number,
                    None,
                    spec.status.value,
                    category or None,
                    spec.reason,
                    *blank,
                    *blank,
                )
            )
            continue
        for position, job_spec in enumerate(spec.jobs):
            job = stored.jobs[(spec.number, position)]
            files = ", ".join(name for key, name in names.items() if f"/{job.id}/" in key)
            link = (
                f"https://discord.com/channels/{GUILD}/{CHANNEL}/{job.grid_message_id}"
                if job.grid_message_id
                else None
            )
            naive = [
                value.replace(tzinfo=None) if value else None
                for value in (job.sent_at, job.started_at, job.finished_at)
            ]
            expected.append(
                (
                    *original,
                    spec.number,
                    job.prompt,
                    job_spec.status.value,
                    job_spec.category.value if job_spec.category else None,
                    job_spec.message or None,
                    job.attempts,
                    job.midjourney_job_id,
                    files or None,
                    link,
                    *naive,
                    (job.finished_at - job.sent_at).total_seconds()
                    if job.sent_at and job.finished_at
                    else None,
                )
            )
    cleaned = [tuple(None if value == "" else value for value in row) for row in rows[1:]]
    assert cleaned == [tuple(None if value == "" else value for value in row) for row in expected]


async def test_report_never_stores_formulas(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    workbook = await read_report(package.report_path)
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert [cell.coordinate for cell in cells if cell.data_type == "f"] == []
    notes = {cell.value: cell for cell in workbook["Jobs"]["D"][1:]}
    for injection in INJECTIONS:
        # A bare CR is stored as LF, because XML readers would turn it into LF anyway.
        text = injection.replace("\r", "\n")
        assert text in notes, text
        assert notes[text].data_type == "s"
        assert notes[text].quotePrefix
    prompts = [cell for cell in workbook["Jobs"]["A"] if cell.value == "=cmd|' /C calc'!A0"]
    assert len(prompts) == 1
    assert prompts[0].data_type == "s"
    assert prompts[0].quotePrefix


async def test_report_header_and_link_format(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    sheet = (await read_report(package.report_path))["Jobs"]
    assert sheet.freeze_panes == "A2"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["A"].width > len("prompt")
    link_column = len(HEADERS) + JOB_COLUMNS.index("Discord message") + 1
    link_cell = sheet.cell(row=2, column=link_column)
    assert link_cell.hyperlink is not None
    assert link_cell.hyperlink.target == link_cell.value
    assert link_cell.value.startswith(f"https://discord.com/channels/{GUILD}/{CHANNEL}/")


async def test_summary_counts_rows_and_jobs(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    summary = package.summary
    assert (summary.rows_total, summary.rows_done, summary.rows_failed) == (11, 4, 4)
    assert (summary.rows_skipped, summary.rows_cancelled) == (2, 1)
    assert summary.jobs_total == 11
    assert summary.images == len(EXPECTED_IMAGE_NAMES)
    assert summary.elapsed_seconds == 1800.0
    sheet = (await read_report(package.report_path))["Summary"]
    items = {row[0]: row[1] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert items["source file"] == "prompts.xlsx"
    assert items["rows done"] == 4
    assert items["rows invalid"] == 1
    assert items["rows failed (invalid rows included)"] == 4
    assert items["jobs done"] == 6
    assert items["jobs failed"] == 3
    assert items["jobs cancelled"] == 1
    assert items["jobs skipped"] == 1
    assert items["jobs failed as moderated"] == 1
    assert items["jobs failed as timed-out"] == 1
    assert items["jobs failed as midjourney-error"] == 1
    assert items["jobs failed as download"] == 0
    assert items["images"] == len(EXPECTED_IMAGE_NAMES)


async def test_parts_stay_under_limit(db: Database, blobs: LocalBlobStore, tmp_path: Path) -> None:
    stored = await store_batch(db, blobs)
    first = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "one", part_limit_bytes=LARGE_LIMIT
    )
    report = await file_bytes(first.report_path)
    largest_image = max(len(data) for data in stored.blobs.values())
    limit = len(report) + 2 * largest_image + 2000

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "parts", part_limit_bytes=limit
    )

    assert len(package.zip_paths) > 1
    assert [path.name for path in package.zip_paths] == [
        f"batch-{stored.batch_id}-images-part{n}.zip" for n in range(1, len(package.zip_paths) + 1)
    ]
    names = await stored_names(db)
    by_name = {name: stored.blobs[key] for key, name in names.items()}
    report = await file_bytes(package.report_path)
    seen: list[str] = []
    for path in package.zip_paths:
        archive = await read_zip(path)
        assert archive.size <= limit, path.name
        assert archive.first_bad_entry is None
        assert archive.entries[0] == package.report_path.name
        assert archive.data[archive.entries[0]] == report
        for entry in archive.entries[1:]:
            assert archive.data[entry] == by_name[entry], entry
        seen += archive.entries[1:]
    assert sorted(seen) == sorted(EXPECTED_IMAGE_NAMES)
    assert package.notices == []


async def test_oversized_image_gets_own_part(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    smallest_image = min(len(data) for data in stored.blobs.values())
    limit = smallest_image // 2

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=limit
    )

    assert len(package.zip_paths) == len(EXPECTED_IMAGE_NAMES)
    report_notices = [notice for notice in package.notices if "separate file" in notice]
    image_notices = [notice for notice in package.notices if "is over the limit" in notice]
    assert len(report_notices) == 1
    assert len(image_notices) == len(EXPECTED_IMAGE_NAMES)
    assert all(f"ZIP part limit ({limit} bytes)" in notice for notice in package.notices)
    seen = []
    for path in package.zip_paths:
        archive = await read_zip(path)
        assert archive.first_bad_entry is None
        assert len(archive.entries) == 1
        seen += archive.entries
    assert sorted(seen) == sorted(EXPECTED_IMAGE_NAMES)


async def test_image_beside_report_too_big(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    first = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "one", part_limit_bytes=LARGE_LIMIT
    )
    report_size = len(await file_bytes(first.report_path))
    largest_image = max(len(data) for data in stored.blobs.values())
    # The report and each image fit alone, but no image fits beside the report.
    limit = max(report_size, largest_image) + 600
    assert report_size + min(len(data) for data in stored.blobs.values()) > limit

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=limit
    )

    assert len(package.zip_paths) == len(EXPECTED_IMAGE_NAMES) + 1
    assert len(package.notices) == len(EXPECTED_IMAGE_NAMES)
    assert all("without the report" in notice for notice in package.notices)
    parts = [await read_zip(path) for path in package.zip_paths]
    for part in parts:
        assert part.size <= limit
        assert part.first_bad_entry is None
    assert [part.entries for part in parts if package.report_path.name in part.entries] == [
        [package.report_path.name]
    ]


async def test_repackaging_removes_stale_parts(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    out_dir = tmp_path / "out"
    smallest_image = min(len(data) for data in stored.blobs.values())
    await package_batch(db, blobs, stored.batch_id, out_dir, part_limit_bytes=smallest_image // 2)

    package = await package_batch(db, blobs, stored.batch_id, out_dir, part_limit_bytes=LARGE_LIMIT)

    zips = await asyncio.to_thread(lambda: sorted(out_dir.glob("*.zip")))
    assert zips == package.zip_paths


async def test_missing_blob_is_reported(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    stored = await store_batch(db, blobs)
    missing_key = next(
        key for key in stored.blobs if key.startswith("batches/2/") and "upscale-2" in key
    )
    await blobs.delete(missing_key)

    package = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    assert package.notices == [f"row 2: image {missing_key} is missing from the blob store"]
    archive = await read_zip(package.zip_paths[0])
    assert "landscapes/002-misty-valley-at-dawn_U2.png" not in archive.entries
    assert len(archive.entries) == len(EXPECTED_IMAGE_NAMES)
    summary = (await read_report(package.report_path))["Summary"]
    items = {row[0]: row[1] for row in summary.iter_rows(values_only=True)}
    assert items["notice"] == package.notices[0]


async def test_unknown_batch_raises(db: Database, blobs: LocalBlobStore, tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="batch 999 not found"):
        await package_batch(db, blobs, 999, tmp_path / "out", part_limit_bytes=LARGE_LIMIT)


async def test_empty_batch_gets_report_only(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    async with db.sessions() as session:
        user = User(display_name="Empty")
        session.add(user)
        await session.flush()
        batch = Batch(
            user_id=user.id,
            origin=BatchOrigin.API,
            status=BatchStatus.PACKAGING,
            source_filename="empty.csv",
        )
        session.add(batch)
        await session.commit()

    package: Package = await package_batch(
        db, blobs, batch.id, tmp_path / "out", part_limit_bytes=LARGE_LIMIT
    )

    archive = await read_zip(package.zip_paths[0])
    assert archive.entries == [package.report_path.name]
    assert package.summary.rows_total == 0


@pytest.mark.parametrize("rows_per_chunk", [1, 2, 3])
async def test_chunked_reads_write_same_outputs(
    db: Database, blobs: LocalBlobStore, tmp_path: Path, rows_per_chunk: int
) -> None:
    stored = await store_batch(db, blobs)

    whole = await package_batch(
        db, blobs, stored.batch_id, tmp_path / "whole", part_limit_bytes=LARGE_LIMIT
    )
    chunked = await package_batch(
        db,
        blobs,
        stored.batch_id,
        tmp_path / "chunked",
        part_limit_bytes=LARGE_LIMIT,
        rows_per_chunk=rows_per_chunk,
    )

    assert len(ROWS) > 3 * rows_per_chunk
    assert chunked.summary == whole.summary
    assert chunked.notices == whole.notices
    assert await report_cells(chunked.report_path) == await report_cells(whole.report_path)
    whole_zip = await read_zip(whole.zip_paths[0])
    chunked_zip = await read_zip(chunked.zip_paths[0])
    assert chunked_zip.entries == whole_zip.entries
    images = [name for name in whole_zip.entries if name != whole.report_path.name]
    assert [chunked_zip.data[name] for name in images] == [whole_zip.data[name] for name in images]


async def report_cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Return every sheet's cell values of a report, by sheet name."""
    workbook = await read_report(path)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook}
