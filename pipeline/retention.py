"""Retention: delete the stored files of finished batches once they are no longer needed.

A finished batch keeps three kinds of files: the result images in the blob store (under
``batches/<id>/``, where an uploaded sheet is kept too), and the ZIP parts and the Excel
report in the outputs folder (``outputs/<id>/``). They are deleted soon after the owner
first downloads the outputs, and otherwise once the retention period has passed since
the batch finished. The batch, its rows and its jobs stay until the owner deletes the
account, so the dashboard still lists what ran and how it ended.

Deletions are logged with the batch id and counts only, never a prompt, a file name or
anything else of the user.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Exists, Select, delete, exists, or_, select, update

from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import Batch, BatchStatus, Image, Job, utcnow

log = logging.getLogger(__name__)

# Time left after the first download before the files go, so a download that broke off,
# or the report fetched after the ZIP, can still be fetched again.
DOWNLOAD_GRACE = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DeletedFiles:
    """How many files of one batch were deleted."""

    batch_id: int
    images: int
    outputs: int


@dataclass(frozen=True, slots=True)
class RetentionSweep:
    """Counts of what one retention run deleted."""

    batches: int = 0
    images: int = 0
    outputs: int = 0
    # Uploads checked but never run, deleted with their rows.
    unconfirmed: int = 0


async def record_download(db: Database, batch_id: int) -> bool:
    """Store the time of the first download of a batch's outputs.

    Return False when an earlier download was already stored.
    """
    async with db.sessions() as session, session.begin():
        updated = await session.scalar(
            update(Batch)
            .where(Batch.id == batch_id, Batch.downloaded_at.is_(None))
            .values(downloaded_at=utcnow())
            .returning(Batch.id)
        )
    first = updated is not None
    if first:
        log.info("batch %s: first download of its outputs", batch_id)
    return first


def batch_blob_prefix(batch_id: int) -> str:
    """Return the blob-store folder that contains a batch's images and uploaded sheet."""
    return f"batches/{batch_id}"


def batch_outputs_dir(outputs_dir: Path, batch_id: int) -> Path:
    """Return the folder of a batch's ZIP parts and report."""
    return outputs_dir / str(batch_id)


async def delete_batch_files(
    blobs: LocalBlobStore, outputs_dir: Path, batch_id: int, image_keys: Iterable[str] = ()
) -> DeletedFiles:
    """Delete every stored file of a batch: its blobs (``image_keys`` too) and its outputs."""
    blob_paths = [blobs.path(key) for key in image_keys]
    blob_folder = blobs.path(batch_blob_prefix(batch_id))
    outputs_folder = batch_outputs_dir(outputs_dir, batch_id)
    images, outputs = await asyncio.to_thread(
        _delete_files, blob_paths, blob_folder, outputs_folder
    )
    return DeletedFiles(batch_id=batch_id, images=images, outputs=outputs)


async def purge_batch_files(
    db: Database, blobs: LocalBlobStore, outputs_dir: Path, batch_id: int
) -> DeletedFiles:
    """Delete a batch's files and forget them in the database (image rows, output keys)."""
    async with db.sessions() as session:
        keys = list(await session.scalars(image_keys_of(batch_id)))
    deleted = await delete_batch_files(blobs, outputs_dir, batch_id, keys)

    async with db.sessions() as session, session.begin():
        await session.execute(
            delete(Image).where(Image.job_id.in_(select(Job.id).where(Job.batch_id == batch_id)))
        )
        batch = await session.get(Batch, batch_id)
        if batch is not None:
            batch.zip_keys = []
            batch.report_key = None
    return deleted


def files_kept_until(
    batch: Batch, retention_days: float, download_grace: timedelta = DOWNLOAD_GRACE
) -> datetime | None:
    """Return when the batch's files become due for deletion, or None while it runs.

    That is ``download_grace`` after the first download, and at the latest
    ``retention_days`` after the batch finished. The retention job deletes them at its
    next run after that moment.
    """
    if batch.finished_at is None:
        return None
    due = batch.finished_at + timedelta(days=retention_days)
    if batch.downloaded_at is not None:
        due = min(due, batch.downloaded_at + download_grace)
    return due


async def run_retention(
    db: Database,
    blobs: LocalBlobStore,
    outputs_dir: Path,
    *,
    retention_days: float,
    download_grace: timedelta = DOWNLOAD_GRACE,
    now: datetime | None = None,
) -> RetentionSweep:
    """Delete the files of every finished batch that was downloaded or is past retention.

    An upload that was checked but never run is deleted whole once it is older than the
    retention period, as its sheet would be.
    """
    now = now or utcnow()
    downloaded_before = now - download_grace
    finished_before = now - timedelta(days=retention_days)
    async with db.sessions() as session:
        due = (
            await session.execute(
                select(Batch.id, Batch.downloaded_at)
                .where(Batch.finished_at.is_not(None))
                .where(
                    or_(
                        Batch.downloaded_at <= downloaded_before,
                        Batch.finished_at <= finished_before,
                    )
                )
                .where(or_(Batch.report_key.is_not(None), _has_images()))
                .order_by(Batch.id)
            )
        ).all()

    sweep = RetentionSweep()
    for batch_id, downloaded_at in due:
        try:
            deleted = await purge_batch_files(db, blobs, outputs_dir, batch_id)
        except Exception:
            log.exception("retention: deleting the files of batch %s failed", batch_id)
            continue
        cause = "downloaded" if downloaded_at is not None else "retention period over"
        log.info(
            "retention: batch %s: deleted %d image files and %d output files (%s)",
            batch_id,
            deleted.images,
            deleted.outputs,
            cause,
        )
        sweep = RetentionSweep(
            batches=sweep.batches + 1,
            images=sweep.images + deleted.images,
            outputs=sweep.outputs + deleted.outputs,
        )
    if sweep.batches:
        log.info(
            "retention: %d batches, %d image files, %d output files deleted",
            sweep.batches,
            sweep.images,
            sweep.outputs,
        )
    unconfirmed = await delete_unconfirmed(db, created_before=finished_before)
    return dataclasses.replace(sweep, unconfirmed=unconfirmed)


async def delete_unconfirmed(db: Database, *, created_before: datetime) -> int:
    """Delete the batches still waiting for Run that were created before ``created_before``."""
    async with db.sessions() as session, session.begin():
        deleted = list(
            await session.scalars(
                delete(Batch)
                .where(Batch.status == BatchStatus.AWAITING_CONFIRMATION)
                .where(Batch.created_at <= created_before)
                .returning(Batch.id)
            )
        )
    if not deleted:
        return 0
    await db.purge_deleted()
    log.info(
        "retention: %d uploads never run deleted (batches %s)",
        len(deleted),
        ", ".join(str(batch_id) for batch_id in sorted(deleted)),
    )
    return len(deleted)


def image_keys_of(batch_id: int) -> Select[str]:
    """Return a query for the blob keys of a batch's images."""
    return select(Image.blob_key).join(Job, Image.job_id == Job.id).where(Job.batch_id == batch_id)


def _has_images() -> Exists:
    return exists(
        select(Image.id).join(Job, Image.job_id == Job.id).where(Job.batch_id == Batch.id)
    )


def _delete_files(
    blob_paths: list[Path], blob_folder: Path, outputs_folder: Path
) -> tuple[int, int]:
    images = 0
    for path in blob_paths:
        if path.is_file():
            path.unlink(missing_ok=True)
            images += 1
    images += _delete_folder(blob_folder)
    return images, _delete_folder(outputs_folder)


def _delete_folder(folder: Path) -> int:
    """Delete a folder and return how many files it had, even if another deletion races it."""
    try:
        files = sum(1 for path in folder.rglob("*") if path.is_file())
    except FileNotFoundError:
        return 0
    shutil.rmtree(folder, ignore_errors=True)
    return files
