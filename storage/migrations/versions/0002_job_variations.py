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


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column(
                "variations_pending", sa.JSON(), server_default=sa.text("'[]'"), nullable=False
            )
        )
        batch.add_column(
            sa.Column(
                "variation_renders", sa.JSON(), server_default=sa.text("'[]'"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("variation_renders")
        batch.drop_column("variations_pending")
