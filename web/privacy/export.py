"""The data export: one ZIP with everything MidJAu stores about a user.

The archive contains JSON files for the account, its connections (without the token), the
consent history, support tickets and mailed links, one folder per batch with its rows
and jobs, and every file of the batch still kept: result images, an uploaded sheet, the
output ZIP parts and the report. The ZIP is written to a temporary file in a thread and
streamed from there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.retention import batch_blob_prefix, batch_outputs_dir
from storage.blobs import LocalBlobStore
from storage.db import Database
from web.privacy.records import BatchRecords, load_account_records, load_batch_records

_log = logging.getLogger(__name__)

README = """\
Your MidJAu data export

account.json          your account (the password itself is never stored; has_password
                      says whether you set one)
connections.json      your Discord connections for Midjourney, without the token
consent_history.json  every cookie choice you made, oldest first
support_tickets.json  the messages you sent through the support form
email_links.json      the verification and reset links mailed to you (without the secret)
batches/<id>/batch.json   a batch with its rows and jobs
batches/<id>/files/       the batch's stored images and uploaded sheet, if still kept
batches/<id>/outputs/     the batch's output ZIP parts and report, if still kept

Files are deleted some time after a batch finishes (see the privacy policy), so older
batches may have no files here.
"""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """Counts of what went into an export."""

    batches: int
    files: int


class AccountNotFoundError(LookupError):
    """The user to export no longer exists."""


async def write_export(
    db: Database,
    blobs: LocalBlobStore,
    outputs_dir: Path,
    user_id: int,
    target: Path,
    *,
    visitor_id: str | None = None,
) -> ExportSummary:
    """Write the user's export ZIP to ``target``; raise AccountNotFoundError when gone.

    ``visitor_id`` is the cookie of the user's browser; its consent records are included.
    """
    records = await load_account_records(db, user_id, visitor_id)
    if records is None:
        raise AccountNotFoundError(f"user {user_id} not found")

    archive = await asyncio.to_thread(zipfile.ZipFile, target, "w", zipfile.ZIP_DEFLATED)
    files = 0
    try:
        top_level = {
            "account.json": records.account,
            "connections.json": records.connections,
            "consent_history.json": records.consent_history,
            "support_tickets.json": records.support_tickets,
            "email_links.json": records.email_links,
        }
        await asyncio.to_thread(_write_top_level, archive, top_level)
        for batch_id in records.batch_ids:
            batch = await load_batch_records(db, batch_id)
            folders = (
                blobs.path(batch_blob_prefix(batch_id)),
                batch_outputs_dir(outputs_dir, batch_id),
            )
            extra = [blobs.path(key) for key in batch.image_keys]
            files += await asyncio.to_thread(_write_batch, archive, batch, folders, extra)
    finally:
        await asyncio.to_thread(archive.close)
    _log.info(
        "user %s: export written (%d batches, %d files)", user_id, len(records.batch_ids), files
    )
    return ExportSummary(batches=len(records.batch_ids), files=files)


async def make_export_file(
    db: Database,
    blobs: LocalBlobStore,
    outputs_dir: Path,
    user_id: int,
    *,
    visitor_id: str | None = None,
) -> Path:
    """Write the user's export to a new temporary file and return its path (caller deletes)."""
    handle, name = await asyncio.to_thread(tempfile.mkstemp, prefix="midjau-export-", suffix=".zip")
    path = Path(name)
    await asyncio.to_thread(os.close, handle)
    try:
        await write_export(db, blobs, outputs_dir, user_id, path, visitor_id=visitor_id)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


def _write_top_level(archive: zipfile.ZipFile, documents: dict[str, Any]) -> None:
    archive.writestr("README.txt", README)
    for name, document in documents.items():
        archive.writestr(name, _json(document))


def _write_batch(
    archive: zipfile.ZipFile,
    batch: BatchRecords,
    folders: tuple[Path, Path],
    image_paths: list[Path],
) -> int:
    root = f"batches/{batch.batch_id}"
    document = batch.batch | {"rows": batch.rows, "jobs": batch.jobs}
    archive.writestr(f"{root}/batch.json", _json(document))

    blob_folder, outputs_folder = folders
    written = 0
    seen: set[Path] = set()
    for label, folder in (("files", blob_folder), ("outputs", outputs_folder)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                relative = path.relative_to(folder).as_posix()
                # Images and ZIPs are compressed already.
                archive.write(path, f"{root}/{label}/{relative}", zipfile.ZIP_STORED)
                seen.add(path)
                written += 1
    for path in image_paths:
        if path not in seen and path.is_file():
            archive.write(path, f"{root}/files/{path.name}", zipfile.ZIP_STORED)
            written += 1
    return written


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)
