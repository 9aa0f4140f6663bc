"""The database: an async engine, a session factory and the Alembic upgrade.

SQLite (aiosqlite) is the embedded default and PostgreSQL (asyncpg) the choice at scale.
Both run the same models and the same migrations. Every SQLite connection gets four
settings. WAL journal mode lets readers work while one connection writes. Foreign keys are
turned on, so the schema's ON DELETE rules hold. A busy timeout makes a locked database
wait instead of failing at once. Secure delete overwrites deleted content with zeros, so a
deleted token or account does not linger in the file's free space.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

log = logging.getLogger(__name__)

# Attempts, and seconds between them, of purge_deleted's checkpoint while readers block it.
# Each attempt itself waits up to the busy timeout for the readers to finish.
PURGE_ATTEMPTS = 3
PURGE_RETRY_SECONDS = 0.05

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: URL) -> bool:
    """Return whether the URL names a SQLite database."""
    return url.get_backend_name() == "sqlite"


def is_sqlite_memory(url: URL) -> bool:
    """Return whether the URL names an in-memory SQLite database."""
    return is_sqlite(url) and url.database in (None, "", ":memory:")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA secure_delete=ON")
    finally:
        cursor.close()


def create_sqlite_folder(url: URL) -> None:
    """Create the folder of a SQLite database file, so SQLite can create the file in it."""
    if is_sqlite(url) and not is_sqlite_memory(url):
        assert url.database is not None  # checked by is_sqlite_memory
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(url: str | URL, *, echo: bool = False, **options: Any) -> AsyncEngine:
    """Create an async engine, with the connection settings for SQLite."""
    url = make_url(url)
    engine = create_async_engine(url, echo=echo, **options)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
    return engine


# Migrations run in a worker thread on a plain synchronous engine; these are the drivers
# it uses for each database (pysqlite is in the standard library, psycopg comes with the
# "postgres" extra).
SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def sync_url(url: URL) -> URL:
    """Return ``url`` with the synchronous driver of its database, for Alembic."""
    backend = url.get_backend_name()
    if backend not in SYNC_DRIVERS:
        raise ValueError(
            f"unsupported database {url.drivername!r}: "
            "use sqlite+aiosqlite:///path/midjau.db or postgresql+asyncpg://user@host/db"
        )
    # NOTE: query arguments pass through unchanged, so an asyncpg-only one (such as
    # ``ssl=require``; psycopg spells it ``sslmode``) breaks the migration connection.
    return url.set(drivername=SYNC_DRIVERS[backend])


def make_sync_engine(url: URL, **options: Any) -> Engine:
    """Create a synchronous engine for ``url``'s database, with the SQLite settings."""
    engine = create_engine(sync_url(url), **options)
    if is_sqlite(url):
        event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def quiet_alembic() -> None:
    """Log only Alembic's warnings, unless its level was set elsewhere (e.g. alembic.ini).

    At INFO it names each of its plugins at every start; MidJAu logs the upgrade itself.
    """
    alembic_log = logging.getLogger("alembic")
    if alembic_log.level == logging.NOTSET:
        alembic_log.setLevel(logging.WARNING)


def alembic_config(url: str | URL, *, connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code, so it works from any working directory.

    With ``connection``, the migrations run on that connection. Otherwise the migration
    environment opens a synchronous engine for ``url`` (see ``sync_url``).
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not as ``sqlalchemy.url``, because the ini parser would
    # treat a ``%`` of a URL-encoded password as interpolation.
    config.attributes["database_url"] = make_url(url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


class Database:
    """The engine and session factory of one database, and its migrations.

    Call ``upgrade()`` before the first session: it creates the schema and, for a SQLite
    file, its folder.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.engine = make_engine(self.url, echo=echo)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    async def upgrade(self) -> None:
        """Apply every Alembic migration up to head, creating a SQLite file's folder first."""
        log.info("upgrading database %s to head", self.url.render_as_string(hide_password=True))
        quiet_alembic()
        await asyncio.to_thread(create_sqlite_folder, self.url)
        if is_sqlite_memory(self.url):
            # An in-memory database exists only on this engine's connection, so migrate
            # on it; the schema is small enough that blocking the loop briefly is fine.
            async with self.engine.begin() as connection:
                await connection.run_sync(self._upgrade_on)
            return
        await asyncio.to_thread(command.upgrade, alembic_config(self.url), "head")

    def _upgrade_on(self, connection: Connection) -> None:
        command.upgrade(alembic_config(self.url, connection=connection), "head")

    async def purge_deleted(self) -> None:
        """Remove the copies of deleted rows that SQLite still keeps in its write-ahead log.

        A truncating checkpoint copies the log into the database file and empties it. It
        does nothing on other databases.
        """
        if not is_sqlite(self.url) or is_sqlite_memory(self.url):
            return
        # Readers of other pooled connections can hold the log for a moment; try again
        # briefly rather than leave deleted secrets on disk.
        for _attempt in range(PURGE_ATTEMPTS):
            async with self.engine.connect() as connection:
                result = await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = result.one()[0]
            if not busy:
                return
            await asyncio.sleep(PURGE_RETRY_SECONDS)
        log.warning("the write-ahead log stayed busy; deleted rows stay in it until reused")

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
