"""Deleting an account: every row of the user and every file stored for them.

The steps run in an order that leaves nothing for the engine to recreate. Unfinished
batches are closed first, so the finisher never packages them again. Then the engine
removes the connections, which stops their sessions and deletes their tokens. Then the
files of every batch go, and last the user row, whose foreign keys cascade to batches,
rows, jobs, images, tickets, mailed links and consent records.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select

from pipeline.engine import Engine
from pipeline.retention import delete_batch_files, image_keys_of
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import (
    Batch,
    BatchStatus,
    ConsentRecord,
    MidjourneyConnection,
    User,
    utcnow,
)
from web.privacy.records import consent_records_of

_log = logging.getLogger(__name__)

# Seconds to wait for a batch that is being packaged, so its files are not written after
# they were deleted.
PACKAGING_WAIT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class ErasureSummary:
    """Counts of what deleting an account removed."""

    batches: int
    connections: int
    files: int


async def erase_account(
    db: Database,
    blobs: LocalBlobStore,
    outputs_dir: Path,
    engine: Engine | None,
    user_id: int,
    *,
    visitor_id: str | None = None,
) -> ErasureSummary:
    """Delete the user with every row and file of theirs; stop their connections first.

    ``visitor_id`` is the cookie of the browser the user deletes from; the consent records
    made there before logging in go too.
    """
    await _wait_for_packaging(db, engine, user_id)
    batch_ids = await _close_open_batches(db, user_id)
    connections = await _remove_connections(db, engine, user_id)

    files = 0
    for batch_id in batch_ids:
        async with db.sessions() as session:
            keys = list(await session.scalars(image_keys_of(batch_id)))
        deleted = await delete_batch_files(blobs, outputs_dir, batch_id, keys)
        files += deleted.images + deleted.outputs

    async with db.sessions() as session, session.begin():
        await session.execute(delete(ConsentRecord).where(consent_records_of(user_id, visitor_id)))
        await session.execute(delete(User).where(User.id == user_id))
    await db.purge_deleted()

    _log.info(
        "user %s deleted: %d batches, %d connections, %d files",
        user_id,
        len(batch_ids),
        connections,
        files,
    )
    return ErasureSummary(batches=len(batch_ids), connections=connections, files=files)


async def _wait_for_packaging(db: Database, engine: Engine | None, user_id: int) -> None:
    if engine is None:
        return
    async with db.sessions() as session:
        packaging = list(
            await session.scalars(
                select(Batch.id).where(
                    Batch.user_id == user_id, Batch.status == BatchStatus.PACKAGING
                )
            )
        )
    for batch_id in packaging:
        try:
            async with asyncio.timeout(PACKAGING_WAIT_SECONDS):
                await engine.wait_finished(batch_id)
        except TimeoutError:
            _log.warning("batch %s still packaging; deleting its files anyway", batch_id)


async def _close_open_batches(db: Database, user_id: int) -> list[int]:
    """Mark unfinished batches cancelled and finished; return the ids of all the user's batches."""
    async with db.sessions() as session, session.begin():
        batches = list(await session.scalars(select(Batch).where(Batch.user_id == user_id)))
        now = utcnow()
        for batch in batches:
            if batch.finished_at is None:
                batch.status = BatchStatus.CANCELLED
                batch.finished_at = now
        return [batch.id for batch in batches]


async def _remove_connections(db: Database, engine: Engine | None, user_id: int) -> int:
    async with db.sessions() as session:
        connection_ids = list(
            await session.scalars(
                select(MidjourneyConnection.id).where(MidjourneyConnection.user_id == user_id)
            )
        )
    if engine is not None:
        for connection_id in connection_ids:
            await engine.remove_connection(connection_id, user_id)
    # Without an engine the user row's cascade deletes the connections.
    return len(connection_ids)
