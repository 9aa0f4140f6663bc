"""Add web accounts: email and password, mailed tokens, consent records, support tickets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD COLUMN, not batch_alter_table: on SQLite a batch rebuilds the table, and with
# foreign keys on, dropping the old users table cascades to every row that points at it.


def upgrade() -> None:
    _add_user_columns()
    op.add_column("batches", sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True))
    _create_email_tokens()
    _create_consent_records()
    _create_support_tickets()


def _add_user_columns() -> None:
    op.add_column("users", sa.Column("email", sa.String(254), nullable=True))
    op.create_index("ux_users_email", "users", ["email"], unique=True)
    op.add_column("users", sa.Column("password_hash", sa.String(255), nullable=True))
    op.add_column(
        "users",
        sa.Column("terms_version", sa.String(32), server_default=sa.text("''"), nullable=False),
    )
    op.add_column(
        "users",
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    for name in (
        "email_verified_at",
        "age_confirmed_at",
        "terms_accepted_at",
        "restricted_at",
        "last_login_at",
    ):
        op.add_column("users", sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
    )


def _create_email_tokens() -> None:
    op.create_table(
        "email_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("new_email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        _user_fk("email_tokens"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_tokens_token_hash")),
    )
    op.create_index(op.f("ix_email_tokens_user_id"), "email_tokens", ["user_id"], unique=False)


def _create_consent_records() -> None:
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("visitor_id", sa.String(length=64), nullable=True),
        sa.Column("analytics", sa.Boolean(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("consent_records"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    op.create_index(
        op.f("ix_consent_records_user_id"), "consent_records", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_consent_records_visitor_id"), "consent_records", ["visitor_id"], unique=False
    )


def _create_support_tickets() -> None:
    op.create_table(
        "support_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default=sa.text("'open'"), nullable=False),
        _user_fk("support_tickets"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    op.create_index(
        op.f("ix_support_tickets_user_id"), "support_tickets", ["user_id"], unique=False
    )


def downgrade() -> None:
    for table in ("support_tickets", "consent_records", "email_tokens"):
        op.drop_table(table)
    op.drop_index("ux_users_email", table_name="users")
    # NOTE: on SQLite these batches rebuild the tables; run them with foreign keys off, or
    # the rebuild deletes the rows that point at users and batches through their cascades.
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("downloaded_at")
    with op.batch_alter_table("users") as batch:
        for name in (
            "last_login_at",
            "restricted_at",
            "terms_accepted_at",
            "age_confirmed_at",
            "email_verified_at",
            "session_epoch",
            "terms_version",
            "password_hash",
            "email",
        ):
            batch.drop_column(name)
