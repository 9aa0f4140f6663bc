"""Plain-data views of a user's stored rows, for the data export.

Every column is copied except secrets: the password hash, the encrypted Discord token
and the hashes of mailed links.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, Select, inspect, or_, select

from storage.db import Database
from storage.models import (
    Base,
    Batch,
    ConsentRecord,
    EmailToken,
    Image,
    Job,
    MidjourneyConnection,
    SheetRow,
    SupportTicket,
    User,
)

# Columns never exported, because they are secrets or derived from one.
SECRET_COLUMNS = frozenset({"password_hash", "token_ciphertext", "token_hash"})


@dataclass
class AccountRecords:
    """Everything stored about a user apart from their batches."""

    account: dict[str, Any]
    connections: list[dict[str, Any]]
    consent_history: list[dict[str, Any]]
    support_tickets: list[dict[str, Any]]
    email_links: list[dict[str, Any]]
    batch_ids: list[int] = field(default_factory=list)


@dataclass
class BatchRecords:
    """One batch with its rows, its jobs and the images of each job."""

    batch_id: int
    batch: dict[str, Any]
    rows: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    image_keys: list[str]


def columns_of(row: Base) -> dict[str, Any]:
    """Return a row's columns as JSON-ready values, without the secret ones."""
    values: dict[str, Any] = {}
    for column in inspect(row).mapper.column_attrs:
        if column.key in SECRET_COLUMNS:
            continue
        values[column.key] = _plain(getattr(row, column.key))
    return values


async def load_account_records(
    db: Database, user_id: int, visitor_id: str | None = None
) -> AccountRecords | None:
    """Load the user's account, connections, consent history, tickets and batch ids.

    ``visitor_id`` (this browser's cookie) adds the choices made here before logging in.
    """
    async with db.sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            return None
        account = columns_of(user) | {"has_password": user.password_hash is not None}
        connections = await session.scalars(
            select(MidjourneyConnection)
            .where(MidjourneyConnection.user_id == user_id)
            .order_by(MidjourneyConnection.id)
        )
        consents = await session.scalars(
            select(ConsentRecord)
            .where(consent_records_of(user_id, visitor_id))
            .order_by(ConsentRecord.created_at, ConsentRecord.id)
        )
        tickets = await session.scalars(
            select(SupportTicket).where(SupportTicket.user_id == user_id).order_by(SupportTicket.id)
        )
        links = await session.scalars(
            select(EmailToken).where(EmailToken.user_id == user_id).order_by(EmailToken.id)
        )
        batch_ids = await session.scalars(
            select(Batch.id).where(Batch.user_id == user_id).order_by(Batch.id)
        )
        return AccountRecords(
            account=account,
            connections=[columns_of(row) for row in connections],
            consent_history=[columns_of(row) for row in consents],
            support_tickets=[columns_of(row) for row in tickets],
            email_links=[columns_of(row) for row in links],
            batch_ids=list(batch_ids),
        )


async def load_batch_records(db: Database, batch_id: int) -> BatchRecords:
    """Load one batch with its rows, jobs and images."""
    async with db.sessions() as session:
        batch = await session.get(Batch, batch_id)
        assert batch is not None  # listed from the same user a moment ago
        rows = await session.scalars(
            select(SheetRow).where(SheetRow.batch_id == batch_id).order_by(SheetRow.row_number)
        )
        jobs = list(
            await session.scalars(
                select(Job).where(Job.batch_id == batch_id).order_by(Job.sequence)
            )
        )
        images = list(
            await session.scalars(
                select(Image).join(Job, Image.job_id == Job.id).where(Job.batch_id == batch_id)
            )
        )
    images_by_job: dict[str, list[dict[str, Any]]] = {}
    for image in images:
        images_by_job.setdefault(image.job_id, []).append(columns_of(image))
    return BatchRecords(
        batch_id=batch_id,
        batch=columns_of(batch),
        rows=[columns_of(row) for row in rows],
        jobs=[columns_of(job) | {"images": images_by_job.get(job.id, [])} for job in jobs],
        image_keys=[image.blob_key for image in images],
    )


def visitor_ids_of(user_id: int) -> Select[str | None]:
    """Select the visitor ids this user's own consent records carry."""
    return select(ConsentRecord.visitor_id).where(
        ConsentRecord.user_id == user_id, ConsentRecord.visitor_id.is_not(None)
    )


def consent_records_of(user_id: int, visitor_id: str | None = None) -> ColumnElement[bool]:
    """Match the user's consent records, and the visitor records of their browsers.

    Choices made in a browser before logging in carry only the visitor id. They belong to
    the user when one of the user's own records has that id, or when ``visitor_id`` is
    the cookie of the browser the user is using now.
    """
    visitor_ids: ColumnElement[bool] = ConsentRecord.visitor_id.in_(visitor_ids_of(user_id))
    if visitor_id is not None:
        visitor_ids = or_(visitor_ids, ConsentRecord.visitor_id == visitor_id)
    return or_(ConsentRecord.user_id == user_id, visitor_ids)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bytes):
        return None
    return value
