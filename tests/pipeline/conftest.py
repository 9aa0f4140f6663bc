"""Fixtures of the pipeline tests: a migrated SQLite database, a blob store, an engine rig."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.blobs import LocalBlobStore
from storage.db import Database
from tests.pipeline.engine_rig import Rig, start_rig


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """Yield a migrated SQLite database."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'midjau.db'}")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    """Return a blob store in a fresh folder."""
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
async def rig(db: Database, blobs: LocalBlobStore, tmp_path: Path) -> AsyncIterator[Rig]:
    """Yield a started engine with a recording relay on a basic-plan connection."""
    async with start_rig(db, blobs, tmp_path) as running:
        yield running
