"""Retention on a real SQLite database, blob store and outputs folder."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.retention import DOWNLOAD_GRACE, files_kept_until, run_retention
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Batch, BatchStatus, Image, Job, SheetRow, User, utcnow
from tests.storage.stored_batches import add_batch_with_images

PROMPT = "a secret lighthouse at dawn"
RETENTION_DAYS = 7.0


@dataclass
class StoredBatch:
    batch_id: int
    image_keys: list[str]
    outputs: Path


async def store_batch(
    db: Database,
    blobs: LocalBlobStore,
    outputs_dir: Path,
    *,
    finished_at: datetime | None,
    downloaded_at: datetime | None = None,
) -> StoredBatch:
    """Store a batch with one row, one job, two image blobs, a sheet blob and two outputs."""
    async with db.sessions() as session, session.begin():
        user = User(discord_user_id=str(uuid.uuid4().int)[:18], display_name="owner")
        session.add(user)
        await session.flush()
        rows = await add_batch_with_images(
            session,
            user_id=user.id,
            prompt=PROMPT,
            source_filename="private-prompts.xlsx",
            outputs_dir=outputs_dir,
            finished_at=finished_at,
            downloaded_at=downloaded_at,
            upscales=1,
        )
    outputs = rows.zip_path.parent

    for key in rows.image_keys:
        await blobs.put(key, b"png")
    await blobs.put(f"batches/{rows.batch_id}/sheet/private-prompts.xlsx", b"sheet")
    outputs.mkdir(parents=True)
    rows.zip_path.write_bytes(b"zip")
    rows.report_path.write_bytes(b"xlsx")
    return StoredBatch(batch_id=rows.batch_id, image_keys=rows.image_keys, outputs=outputs)


async def image_count(db: Database, batch_id: int) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(
                select(func.count(Image.id)).join(Job).where(Job.batch_id == batch_id)
            )
            or 0
        )


async def load_batch(db: Database, batch_id: int) -> Batch:
    async with db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    return batch


async def assert_files_kept(db: Database, blobs: LocalBlobStore, stored: StoredBatch) -> None:
    for key in stored.image_keys:
        assert await blobs.exists(key), key
    assert stored.outputs.is_dir()
    assert await image_count(db, stored.batch_id) == 2
    assert (await load_batch(db, stored.batch_id)).report_key is not None


async def assert_files_gone(db: Database, blobs: LocalBlobStore, stored: StoredBatch) -> None:
    for key in stored.image_keys:
        assert not await blobs.exists(key), key
    assert not blobs.path(f"batches/{stored.batch_id}").exists()
    assert not stored.outputs.exists()
    assert await image_count(db, stored.batch_id) == 0
    batch = await load_batch(db, stored.batch_id)
    assert batch.zip_keys == []
    assert batch.report_key is None


@pytest.fixture
def outputs_dir(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


async def test_downloaded_batch_loses_files_after_grace(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    downloaded = await store_batch(
        db,
        blobs,
        outputs_dir,
        finished_at=now - timedelta(hours=3),
        downloaded_at=now - timedelta(hours=2),
    )

    sweep = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    await assert_files_gone(db, blobs, downloaded)
    assert sweep.batches == 1
    assert sweep.images == 3  # two results and the uploaded sheet
    assert sweep.outputs == 2


async def test_download_within_grace_keeps_files(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    recent = await store_batch(
        db,
        blobs,
        outputs_dir,
        finished_at=now - timedelta(hours=1),
        downloaded_at=now - DOWNLOAD_GRACE / 2,
    )

    sweep = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    assert sweep.batches == 0
    await assert_files_kept(db, blobs, recent)


async def test_undownloaded_batch_kept_until_retention_ends(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    young = await store_batch(
        db, blobs, outputs_dir, finished_at=now - timedelta(days=RETENTION_DAYS - 1)
    )
    old = await store_batch(
        db, blobs, outputs_dir, finished_at=now - timedelta(days=RETENTION_DAYS + 1)
    )

    sweep = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    assert sweep.batches == 1
    await assert_files_kept(db, blobs, young)
    await assert_files_gone(db, blobs, old)


async def test_unfinished_batch_is_never_touched(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    running = await store_batch(db, blobs, outputs_dir, finished_at=None)

    later = utcnow() + timedelta(days=RETENTION_DAYS * 10)
    sweep = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=later)

    assert sweep.batches == 0
    await assert_files_kept(db, blobs, running)


async def test_upload_never_run_is_deleted_after_retention(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    old = await store_batch(db, blobs, outputs_dir, finished_at=None)
    recent = await store_batch(db, blobs, outputs_dir, finished_at=None)
    ages = {old.batch_id: RETENTION_DAYS + 1, recent.batch_id: RETENTION_DAYS - 1}
    async with db.sessions() as session, session.begin():
        for batch_id, days in ages.items():
            batch = await session.get(Batch, batch_id)
            assert batch is not None
            batch.status = BatchStatus.AWAITING_CONFIRMATION
            batch.created_at = now - timedelta(days=days)

    sweep = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    assert sweep.unconfirmed == 1
    async with db.sessions() as session:
        assert await session.get(Batch, old.batch_id) is None
        assert await session.get(Batch, recent.batch_id) is not None
        jobs = await session.scalar(select(func.count(Job.id)).where(Job.batch_id == old.batch_id))
    assert jobs == 0


async def test_second_run_deletes_nothing(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    await store_batch(db, blobs, outputs_dir, finished_at=now - timedelta(days=RETENTION_DAYS + 1))
    first = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    second = await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    assert first.batches == 1
    assert second.batches == 0


async def test_rows_and_jobs_stay_after_deletion(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path
) -> None:
    now = utcnow()
    stored = await store_batch(
        db, blobs, outputs_dir, finished_at=now - timedelta(days=RETENTION_DAYS + 1)
    )

    await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    async with db.sessions() as session:
        rows = await session.scalar(
            select(func.count(SheetRow.id)).where(SheetRow.batch_id == stored.batch_id)
        )
        jobs = await session.scalar(
            select(func.count(Job.id)).where(Job.batch_id == stored.batch_id)
        )
    assert rows == 1
    assert jobs == 1


async def test_deletion_log_has_no_personal_data(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = utcnow()
    stored = await store_batch(
        db,
        blobs,
        outputs_dir,
        finished_at=now - timedelta(hours=3),
        downloaded_at=now - timedelta(hours=2),
    )

    with caplog.at_level(logging.INFO, logger="pipeline.retention"):
        await run_retention(db, blobs, outputs_dir, retention_days=RETENTION_DAYS, now=now)

    messages = [
        record.getMessage() for record in caplog.records if record.name == "pipeline.retention"
    ]
    assert any(f"batch {stored.batch_id}:" in message for message in messages)
    for message in messages:
        assert PROMPT not in message
        assert "private-prompts" not in message
        assert str(outputs_dir) not in message
        assert ".png" not in message


def test_files_kept_until_retention_without_download() -> None:
    finished = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    batch = Batch(finished_at=finished, downloaded_at=None)

    assert files_kept_until(batch, retention_days=7) == finished + timedelta(days=7)


def test_files_kept_until_grace_after_download() -> None:
    finished = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    downloaded = finished + timedelta(hours=2)
    batch = Batch(finished_at=finished, downloaded_at=downloaded)

    assert files_kept_until(batch, retention_days=7) == downloaded + DOWNLOAD_GRACE
    assert files_kept_until(batch, retention_days=0.01) == finished + timedelta(days=0.01)


def test_running_batch_has_no_deletion_time() -> None:
    assert files_kept_until(Batch(finished_at=None), retention_days=7) is None
