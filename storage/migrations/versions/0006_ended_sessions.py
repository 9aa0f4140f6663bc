"""Add ended sessions: the ids of logged-out sessions, so copies of their cookies fail.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 02:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ended_sessions",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ended_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_ended_sessions")),
    )
    op.create_index(op.f("ix_ended_sessions_user_id"), "ended_sessions", ["user_id"], unique=False)
    op.create_index(
        op.f("ix_ended_sessions_expires_at"), "ended_sessions", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("ended_sessions")
