"""Fixtures of the pipeline tests: a migrated SQLite database, a blob store, an engine rig."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography.fernet import Fernet

from pipeline.engine import Engine
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher
from storage.db import Database
from tests.pipeline.engine_rig import Rig, start_rig
from tests.pipeline.engine_support import RecordingRelay, fast_settings

# One key for every engine of a test, as successive processes share data/secret.key.
KEY = Fernet.generate_key()


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


@pytest.fixture
async def make_engine(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Build engines on one database, as successive processes would; stop them all at the end.

    Each engine's recording relays serve ``history`` as the channel's past messages.
    """
    engines: list[Engine] = []
    async with aiohttp.ClientSession() as http:

        async def build(history=(), **timeouts) -> tuple[Engine, list[RecordingRelay]]:
            relays: list[RecordingRelay] = []

            def build_relay(config):
                relay = RecordingRelay(config)
                relay.history = list(history)
                if not relay.checks_only:
                    relays.append(relay)
                return relay

            settings = fast_settings(tmp_path, **timeouts)
            engine = Engine(settings, db, blobs, http, TokenCipher(KEY), build_relay)
            engines.append(engine)
            return engine, relays

        yield build
        for engine in engines:
            await engine.stop()
