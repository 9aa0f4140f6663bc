"""Never hand out an id twice on SQLite: AUTOINCREMENT on tables whose ids leave the database.

Without AUTOINCREMENT, SQLite gives a new row the highest id plus one, so after the
newest batch is deleted the next batch gets its id. Old Discord buttons, cached thumbnails
and in-memory results would then act on or show the new row. These ids appear in URLs,
buttons and caches: users, support tickets, connections, batches and images. PostgreSQL
sequences never hand out an id twice, so nothing changes there.

The tables are rebuilt, which ``storage/migrations/env.py`` does with foreign keys off so
that dropping the old table does not cascade to the rows that refer to it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("users", "support_tickets", "midjourney_connections", "batches", "images")


def upgrade() -> None:
    _rebuild(autoincrement=True)


def downgrade() -> None:
    _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass
