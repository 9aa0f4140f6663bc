"""Fixtures of the pipeline tests: a migrated SQLite database and a blob store in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.blobs import LocalBlobStore
from storage.db import Database


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
