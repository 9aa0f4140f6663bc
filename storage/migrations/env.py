"""Alembic environment for MidJAu: runs migrations on a synchronous engine in a worker thread.

The URL comes from ``storage.db.alembic_config`` (``config.attributes["database_url"]``),
from ``-x url=...`` on the command line, or from ``sqlalchemy.url`` in ``alembic.ini``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, make_url

from storage.db import is_sqlite, make_sync_engine
from storage.models import Base

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:
    # Only the command-line tool reads alembic.ini; the application keeps its own logging.
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> URL:
    """Return the URL to migrate, or raise when none was given."""
    url = config.attributes.get("database_url")
    if url is None:
        url = context.get_x_argument(as_dictionary=True).get("url")
    if url is None:
        url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database URL for the migrations: run `midjau db upgrade`, or pass "
            "`-x url=sqlite+aiosqlite:///path/midjau.db` to alembic"
        )
    return make_url(url)


def configure_context(connection: Connection) -> None:
    """Point Alembic at a connection; SQLite needs batch mode to alter tables."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite(connection.engine.url),
        compare_type=True,
    )


def run_on_connection(connection: Connection) -> None:
    """Run the pending migrations in one transaction."""
    configure_context(connection)
    with context.begin_transaction():
        context.run_migrations()


@contextmanager
def sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Turn SQLite's foreign keys off while migrations rebuild tables, then check them.

    Batch mode rebuilds a SQLite table by copying it and dropping the old one, and with
    foreign keys on, that drop deletes every row that refers to it through a cascade.
    SQLite ignores this PRAGMA inside a transaction, so it is set before the migrations'.
    """
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migrations left rows whose foreign keys break: {broken}")
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def run_on_new_engine(url: URL) -> None:
    """Open a short-lived synchronous engine for ``url`` and migrate through it."""
    engine = make_sync_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            if not is_sqlite(url):
                run_on_connection(connection)
                return
            with sqlite_foreign_keys_off(connection):
                run_on_connection(connection)
    finally:
        engine.dispose()


def run_offline() -> None:
    """Write the migrations as SQL instead of running them."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Run the migrations on the given connection or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on_connection(connection)
        return
    # storage.db.Database.upgrade calls this in a worker thread, so blocking is fine here.
    run_on_new_engine(database_url())


if context.is_offline_mode():
    run_offline()
else:
    run_online()
