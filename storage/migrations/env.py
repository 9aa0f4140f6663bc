"""Alembic environment for MidJAu: runs migrations on a synchronous engine in a worker thread.

The URL comes from ``storage.db.alembic_config`` (``config.attributes["database_url"]``),
from ``-x url=...`` on the command line, or from ``sqlalchemy.url`` in ``alembic.ini``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from alembic.migration import MigrationContext
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, make_url

from storage.db import is_sqlite, make_sync_engine
from storage.models import Base

_log = logging.getLogger("storage.migrations")

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
    Rows whose foreign keys were broken before are reported, not blamed on the migrations.
    """
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    before = broken_references(connection)
    # End the transaction the reads began, so the migrations run in (and commit) their own.
    connection.commit()
    try:
        yield
        after = broken_references(connection)
    finally:
        connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()
    if after - before:
        raise RuntimeError(
            f"the migrations broke the foreign keys of these rows: {sorted(after - before)}"
        )
    if before:
        _log.warning(
            "the database has %d rows whose foreign keys point at missing rows (table, "
            "rowid, missing parent): %s; MidJAu leaves them as they are",
            len(before),
            sorted(before)[:20],
        )


def broken_references(connection: Connection) -> set[tuple[str, int, str]]:
    """Return (table, rowid, parent table) for each row whose foreign key finds no parent."""
    rows = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    return {(str(table), int(rowid), str(parent)) for table, rowid, parent, _key in rows}


def is_up_to_date(connection: Connection) -> bool:
    """Return whether the database is at the newest revision already."""
    current = MigrationContext.configure(connection).get_current_revision()
    connection.commit()  # reading the revision began a transaction
    return current is not None and current == context.script.get_current_head()


def run_on_new_engine(url: URL) -> None:
    """Open a short-lived synchronous engine for ``url`` and migrate through it."""
    engine = make_sync_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            if not is_sqlite(url):
                run_on_connection(connection)
            elif not is_up_to_date(connection):
                # Only a real upgrade turns foreign keys off and checks every row.
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
