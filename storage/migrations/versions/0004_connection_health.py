"""Add what a connection needs to pause and resume by itself, and the user's fault choices.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 23:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "midjourney_connections"


# Plain ADD COLUMN, not batch_alter_table: on SQLite a batch rebuilds the table, and with
# foreign keys on, dropping the old table cascades to the rows that point at it.


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        TABLE, sa.Column("pause_link", sa.Text(), server_default=sa.text("''"), nullable=False)
    )
    for flag in ("relax_when_fast_used_up", "appeal_soft_moderation"):
        op.add_column(
            TABLE, sa.Column(flag, sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.add_column(
        TABLE,
        sa.Column("speed_override", sa.String(16), server_default=sa.text("''"), nullable=False),
    )
    op.add_column(TABLE, sa.Column("learned_job_limit", sa.Integer(), nullable=True))


def downgrade() -> None:
    # NOTE: on SQLite this batch rebuilds the table; run it with foreign keys off, or the
    # rebuild deletes the batches' connection links through their ON DELETE SET NULL.
    with op.batch_alter_table(TABLE) as batch:
        for name in (
            "learned_job_limit",
            "speed_override",
            "appeal_soft_moderation",
            "relax_when_fast_used_up",
            "pause_link",
            "paused_at",
        ):
            batch.drop_column(name)
