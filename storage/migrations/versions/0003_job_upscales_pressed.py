"""Record which upscale buttons of a job were pressed, so a restart never presses twice.

Existing rows get an empty list through the server default, so the column can be NOT NULL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 22:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN, not batch_alter_table: on SQLite a batch rebuilds the table, and with
# foreign keys on, dropping the old jobs table cascades to every image row.


def upgrade() -> None:
    op.add_column(
        "jobs",
        sa.Column("upscales_pressed", sa.JSON(), server_default=sa.text("'[]'"), nullable=False),
    )


def downgrade() -> None:
    # On SQLite this batch rebuilds jobs, which env.py does with foreign keys off, so the
    # image rows are kept.
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("upscales_pressed")
