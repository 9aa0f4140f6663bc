"""Upgrading an existing database keeps its rows, images included."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import pytest
from alembic import command

from storage.db import Database, alembic_config


async def test_upgrade_from_first_revision_keeps_images(tmp_path: Path) -> None:
    path = tmp_path / "midjau.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0001")
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            insert into users (id, display_name, created_at) values (1, 'a', '2026-01-01');
            insert into batches (id, user_id, origin, status, source_filename, sheet_name,
                headers, options, zip_keys, created_at)
                values (1, 1, 'demo', 'done', 's.xlsx', 'Prompts', '[]', '{}', '[]', '2026-01-01');
            insert into sheet_rows (id, batch_id, row_number, "values", status, reason,
                upscales, variations, filename, folder)
                values (1, 1, 2, '{}', 'accepted', '', '[]', '[]', '', '');
            insert into jobs (id, batch_id, row_id, sequence, repeat_index, permutation_index,
                prompt, mode, status, failure_message, attempts, progress, upscales_pending,
                created_at)
                values ('j1', 1, 1, 0, 0, 0, 'a fox', 'fast', 'done', '', 1, 100, '[]',
                '2026-01-01');
            insert into images (id, job_id, kind, "index", blob_key, archive_name, size,
                source_url, created_at)
                values (1, 'j1', 'grid', 0, 'k', '', 1, '', '2026-01-01');
            """
        )

    database = Database(url)
    try:
        await database.upgrade()
    finally:
        await database.dispose()

    with sqlite3.connect(path) as connection:
        assert connection.execute("select count(*) from images").fetchone() == (1,)
        assert connection.execute("select upscales_pressed from jobs").fetchone() == ("[]",)


async def test_rows_broken_before_upgrade_are_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "midjau.db"
    url = f"sqlite+aiosqlite:///{path}"
    command.upgrade(alembic_config(url), "0006")
    with sqlite3.connect(path) as connection:
        # An older release left a ticket whose user row is gone (foreign keys were off).
        connection.execute(
            "insert into support_tickets (id, user_id, subject, body, created_at)"
            " values (1, 99, 'orphan', 'x', '2026-01-01')"
        )

    database = Database(url)
    try:
        with caplog.at_level(logging.WARNING, logger="storage.migrations"):
            await database.upgrade()
        first = [record.getMessage() for record in caplog.records]
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="storage.migrations"):
            await database.upgrade()
        second = [record.getMessage() for record in caplog.records]
    finally:
        await database.dispose()

    with sqlite3.connect(path) as connection:
        assert connection.execute("select version_num from alembic_version").fetchone() == ("0007",)
        assert connection.execute("select count(*) from support_tickets").fetchone() == (1,)
    assert any("('support_tickets', 1, 'users')" in message for message in first)
    assert second == []  # an up-to-date database is not scanned again
