"""Database fixtures: every test that takes ``db`` runs on SQLite and, when configured, PostgreSQL.

Set ``MIDJAU_TEST_POSTGRES_URL`` (for example
``postgresql+asyncpg://postgres@127.0.0.1:54329/midjau_test``) to run the PostgreSQL cases;
each test gets a database of its own, created from that URL's server and dropped afterwards.
CI also sets ``MIDJAU_REQUIRE_POSTGRES=1`` so the cases fail instead of being skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from storage.db import Database

POSTGRES_URL_VARIABLE = "MIDJAU_TEST_POSTGRES_URL"


def postgres_url() -> URL | None:
    """Return the PostgreSQL server given for tests, or None."""
    value = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    return make_url(value) if value else None


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """Yield the URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'data' / 'midjau.db'}"
        return

    server = postgres_url()
    if server is None:
        if os.environ.get("MIDJAU_REQUIRE_POSTGRES"):
            pytest.fail(f"MIDJAU_REQUIRE_POSTGRES is set but {POSTGRES_URL_VARIABLE} is not")
        pytest.skip(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE} (a postgresql+asyncpg:// URL)")
    name = f"midjau_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """Yield a migrated database."""
    database = Database(database_url)
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()
