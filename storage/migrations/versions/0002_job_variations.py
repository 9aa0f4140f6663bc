"""Add the variation columns of jobs: indexes still pending and the state of each render.

Existing rows get empty lists through the server default, so the columns can be NOT NULL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN, not batch_alter_table: on SQLite a batch rebuilds the table, and with
# foreign keys on, dropping the old jobs table cascades to every image row.


def upgrade() -> None:
    for name in ("variations_pending", "variation_renders"):
        op.add_column(
            "jobs", sa.Column(name, sa.JSON(), server_default=sa.text("'[]'"), nullable=False)
        )


def downgrade() -> None:
    # NOTE: on SQLite this batch rebuilds jobs; run it with foreign keys off, or the
    # rebuild deletes the image rows through their cascade.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("variation_renders")
        batch.drop_column("variations_pending")
