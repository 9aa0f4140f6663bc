"""Create the tables for users, Midjourney connections, batches, sheet rows, jobs and images.

Enum columns are plain VARCHAR(32) because the models store enum values as text
(``native_enum=False``), so a new enum member needs no migration.

Revision ID: 0001
Revises:
Create Date: 2026-12-04 20:16:51.769657
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("discord_user_id", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("discord_user_id", name=op.f("uq_users_discord_user_id")),
    )
    op.create_table(
        "midjourney_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("discord_account_id", sa.String(length=32), nullable=False),
        sa.Column("guild_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("plan", sa.String(length=16), nullable=False),
        sa.Column("token_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("fast_slots", sa.Integer(), nullable=True),
        sa.Column("relax_slots", sa.Integer(), nullable=True),
        sa.Column("min_gap_seconds", sa.Double(), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_midjourney_connections_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_midjourney_connections")),
    )
    op.create_index(
        op.f("ix_midjourney_connections_user_id"),
        "midjourney_connections",
        ["user_id"],
        unique=False,
    )

    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("origin", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("source_filename", sa.String(length=255), nullable=False),
        sa.Column("sheet_name", sa.String(length=255), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("discord_channel_id", sa.String(length=32), nullable=True),
        sa.Column("progress_message_id", sa.String(length=32), nullable=True),
        sa.Column("zip_keys", sa.JSON(), nullable=False),
        sa.Column("report_key", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["midjourney_connections.id"],
            name=op.f("fk_batches_connection_id_midjourney_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_batches_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.create_index(op.f("ix_batches_connection_id"), "batches", ["connection_id"], unique=False)
    op.create_index(op.f("ix_batches_status"), "batches", ["status"], unique=False)
    op.create_index(op.f("ix_batches_user_id"), "batches", ["user_id"], unique=False)

    op.create_table(
        "sheet_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_number", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("upscales", sa.JSON(), nullable=False),
        sa.Column("variations", sa.JSON(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("folder", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_sheet_rows_batch_id_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sheet_rows")),
    )
    op.create_index(op.f("ix_sheet_rows_batch_id"), "sheet_rows", ["batch_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("row_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("repeat_index", sa.Integer(), nullable=False),
        sa.Column("permutation_index", sa.Integer(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("failure_category", sa.String(length=32), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=32), nullable=True),
        sa.Column("interaction_id", sa.String(length=32), nullable=True),
        sa.Column("progress_message_id", sa.String(length=32), nullable=True),
        sa.Column("grid_message_id", sa.String(length=32), nullable=True),
        sa.Column("midjourney_job_id", sa.String(length=64), nullable=True),
        sa.Column("upscales_pending", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stage_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_jobs_batch_id_batches"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["midjourney_connections.id"],
            name=op.f("fk_jobs_connection_id_midjourney_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["row_id"],
            ["sheet_rows.id"],
            name=op.f("fk_jobs_row_id_sheet_rows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_batch_status", "jobs", ["batch_id", "status"], unique=False)
    op.create_index("ix_jobs_connection_status", "jobs", ["connection_id", "status"], unique=False)
    op.create_index(op.f("ix_jobs_grid_message_id"), "jobs", ["grid_message_id"], unique=False)
    op.create_index(op.f("ix_jobs_interaction_id"), "jobs", ["interaction_id"], unique=False)
    op.create_index(op.f("ix_jobs_midjourney_job_id"), "jobs", ["midjourney_job_id"], unique=False)
    op.create_index(op.f("ix_jobs_nonce"), "jobs", ["nonce"], unique=False)
    op.create_index(
        op.f("ix_jobs_progress_message_id"), "jobs", ["progress_message_id"], unique=False
    )

    op.create_table(
        "images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("archive_name", sa.String(length=255), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("discord_message_id", sa.String(length=32), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_images_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_images")),
    )
    op.create_index(op.f("ix_images_job_id"), "images", ["job_id"], unique=False)
    op.create_index("ux_images_job_kind_index", "images", ["job_id", "kind", "index"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_images_job_kind_index", table_name="images")
    op.drop_index(op.f("ix_images_job_id"), table_name="images")

    op.drop_table("images")
    op.drop_index(op.f("ix_jobs_progress_message_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_nonce"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_midjourney_job_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_interaction_id"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_grid_message_id"), table_name="jobs")
    op.drop_index("ix_jobs_connection_status", table_name="jobs")
    op.drop_index("ix_jobs_batch_status", table_name="jobs")

    op.drop_table("jobs")
    op.drop_index(op.f("ix_sheet_rows_batch_id"), table_name="sheet_rows")

    op.drop_table("sheet_rows")
    op.drop_index(op.f("ix_batches_user_id"), table_name="batches")
    op.drop_index(op.f("ix_batches_status"), table_name="batches")
    op.drop_index(op.f("ix_batches_connection_id"), table_name="batches")

    op.drop_table("batches")
    op.drop_index(op.f("ix_midjourney_connections_user_id"), table_name="midjourney_connections")

    op.drop_table("midjourney_connections")
    op.drop_table("users")
