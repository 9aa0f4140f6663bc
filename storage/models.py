"""SQLAlchemy models: users, Midjourney connections, batches, sheet rows, jobs and images.

The web site adds mailed one-time tokens, consent records and support tickets.

Every state change of a batch is a committed row here, so a restarted process can carry
on where the last one stopped. Times are stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; use storage.models.utcnow()")
        # SQLite stores the wall-clock text without its offset, so convert before storing.
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# Named constraints let later migrations drop or alter them, also on SQLite (batch mode).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every MidJAu table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


def _enum(enum_class: type[StrEnum]) -> Enum:
    # Store the value as plain text so PostgreSQL needs no enum type migrations.
    return Enum(
        enum_class,
        native_enum=False,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )


class ConnectionState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class BatchStatus(StrEnum):
    AWAITING_CONFIRMATION = "awaiting_confirmation"
    QUEUED = "queued"
    RUNNING = "running"
    PACKAGING = "packaging"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"


class BatchOrigin(StrEnum):
    DISCORD = "discord"
    WEB = "web"
    API = "api"
    DEMO = "demo"


class RowStatus(StrEnum):
    """A sheet row's own state: whether it became jobs at all."""

    ACCEPTED = "accepted"
    SKIPPED = "skipped"
    INVALID = "invalid"


class JobStatus(StrEnum):
    QUEUED = "queued"  # in our queue, not yet sent
    SUBMITTED = "submitted"  # POST /interactions accepted; no reply from Midjourney yet
    WAITING = "waiting"  # "Waiting to start" or "Job queued" at Midjourney
    RUNNING = "running"  # progress edits arriving
    UPSCALING = "upscaling"  # grid done; upscale buttons pressed, results pending
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_JOB_STATUSES

    @property
    def is_in_flight(self) -> bool:
        return self in IN_FLIGHT_JOB_STATUSES


FINAL_JOB_STATUSES = frozenset(
    {JobStatus.DONE, JobStatus.FAILED, JobStatus.SKIPPED, JobStatus.CANCELLED}
)
# Jobs that hold one of the account's Midjourney slots.
IN_FLIGHT_JOB_STATUSES = frozenset({JobStatus.SUBMITTED, JobStatus.WAITING, JobStatus.RUNNING})


class FailureCategory(StrEnum):
    INVALID = "invalid"  # the prompt or a parameter was rejected
    MODERATED = "moderated"  # banned prompt, soft moderation, deleted mid-render
    FILTERED = "filtered"  # output filter
    MIDJOURNEY_ERROR = "midjourney-error"  # "could not complete", "Failed to process"
    TIMED_OUT = "timed-out"
    ACCOUNT = "account"  # the connection was paused and the batch ended before it resumed
    DOWNLOAD = "download"  # the result existed but could not be downloaded


class EmailTokenPurpose(StrEnum):
    VERIFY = "verify"
    RESET = "reset"
    EMAIL_CHANGE = "email_change"


class ImageKind(StrEnum):
    GRID = "grid"
    QUADRANT = "quadrant"  # one quarter of a grid, cut by us
    UPSCALE = "upscale"  # Midjourney's U1-U4 result
    VARIATION = "variation"  # a V1-V4 result grid


# Ids that appear in URLs, Discord buttons and caches must not come back for another row,
# which SQLite does without AUTOINCREMENT once the newest row is deleted.
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    discord_user_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Web account, stored lower-case; a user who only used the bot has no email or password.
    email: Mapped[str | None] = mapped_column(String(254))
    email_verified_at: Mapped[datetime | None] = mapped_column()
    # argon2 hash (argon2-cffi PasswordHasher); never the password.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    age_confirmed_at: Mapped[datetime | None] = mapped_column()
    terms_version: Mapped[str] = mapped_column(String(32), default="", server_default=text("''"))
    terms_accepted_at: Mapped[datetime | None] = mapped_column()
    # Stored in every session cookie; raising it logs out every session of the user.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Set while the user restricts processing: their batches and connections stay paused.
    restricted_at: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()

    connections: Mapped[list[MidjourneyConnection]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )
    email_tokens: Mapped[list[EmailToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    support_tickets: Mapped[list[SupportTicket]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    consent_records: Mapped[list[ConsentRecord]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    batches: Mapped[list[Batch]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    # A unique index, not a constraint: SQLite cannot add a UNIQUE column to a table.
    __table_args__ = (Index("ux_users_email", "email", unique=True), NEVER_REUSED_IDS)


class EmailToken(Base):
    """A one-time link sent by mail: verify an address, reset a password, change the email."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[EmailTokenPurpose] = mapped_column(_enum(EmailTokenPurpose))
    # sha256 hex of the secret in the link; the secret itself is only in the mail.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="email_tokens")


class EndedSession(Base):
    """A logged-out session: copies of its cookie no longer log anyone in.

    The row is kept until ``expires_at``, when every copy of the cookie has expired anyway.
    """

    __tablename__ = "ended_sessions"

    # The random id the session got at login.
    session_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ConsentRecord(Base):
    """One cookie choice of a user or a visitor; the newest record is the current choice."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # Random id from the visitor cookie, for choices made before logging in.
    visitor_id: Mapped[str | None] = mapped_column(String(64), index=True)
    analytics: Mapped[bool] = mapped_column(Boolean, default=False)
    marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship(back_populates="consent_records")


class SupportTicket(Base):
    """A message a user sent through the support form."""

    __tablename__ = "support_tickets"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open", server_default=text("'open'"))

    user: Mapped[User] = relationship(back_populates="support_tickets")


class MidjourneyConnection(Base):
    """A Discord account connected for Midjourney, and the channel it works in."""

    __tablename__ = "midjourney_connections"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    discord_account_id: Mapped[str] = mapped_column(String(32), default="")
    guild_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    plan: Mapped[str] = mapped_column(String(16), default="standard")
    # Fernet ciphertext of the Discord user token (storage.crypto); never the plain token.
    token_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    fast_slots: Mapped[int | None] = mapped_column(Integer)
    relax_slots: Mapped[int | None] = mapped_column(Integer)
    min_gap_seconds: Mapped[float | None] = mapped_column()
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[ConnectionState] = mapped_column(
        _enum(ConnectionState), default=ConnectionState.ACTIVE
    )
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[datetime | None] = mapped_column()
    # Link to the Midjourney or Discord message the user must acknowledge to go on, if any.
    pause_link: Mapped[str] = mapped_column(Text, default="")
    # The user's choices for two Midjourney replies: switch to relax mode once fast hours
    # are used up (instead of pausing), and press Appeal on soft moderation (instead of
    # failing the row at once).
    relax_when_fast_used_up: Mapped[bool] = mapped_column(Boolean, default=False)
    appeal_soft_moderation: Mapped[bool] = mapped_column(Boolean, default=False)
    # "relax" once fast hours ran out and the user chose to go on in relax; "" otherwise.
    speed_override: Mapped[str] = mapped_column(String(16), default="")
    # Jobs in flight Midjourney really accepted before replying "queue full"; None until
    # learned. The dispatcher keeps below it even when the plan allows more.
    learned_job_limit: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="connections")


class Batch(Base):
    """One sheet (or API request) run through Midjourney."""

    __tablename__ = "batches"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("midjourney_connections.id", ondelete="SET NULL"), index=True
    )
    origin: Mapped[BatchOrigin] = mapped_column(_enum(BatchOrigin))
    status: Mapped[BatchStatus] = mapped_column(_enum(BatchStatus), index=True)
    source_filename: Mapped[str] = mapped_column(String(255))
    sheet_name: Mapped[str] = mapped_column(String(255), default="")
    # Column headers of the sheet in their original order, for the report.
    headers: Mapped[list[Any]] = mapped_column(default=list)
    # BatchOptions as JSON: default upscale, split grids, mode.
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Where to post progress and results when the batch came from Discord.
    discord_channel_id: Mapped[str | None] = mapped_column(String(32))
    progress_message_id: Mapped[str | None] = mapped_column(String(32))
    # Blob keys of the outputs, set when packaging has finished.
    zip_keys: Mapped[list[Any]] = mapped_column(default=list)
    report_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # First download of the outputs; retention deletes the images soon after it.
    downloaded_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="batches")
    rows: Mapped[list[SheetRow]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="SheetRow.row_number"
    )
    jobs: Mapped[list[Job]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="Job.sequence"
    )


class SheetRow(Base):
    """A row of the uploaded sheet, kept with its original cells for the report."""

    __tablename__ = "sheet_rows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    # Header text -> the cell's visible text, in sheet order.
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[RowStatus] = mapped_column(_enum(RowStatus))
    reason: Mapped[str] = mapped_column(Text, default="")
    upscales: Mapped[list[Any]] = mapped_column(default=list)
    variations: Mapped[list[Any]] = mapped_column(default=list)
    filename: Mapped[str] = mapped_column(String(255), default="")
    folder: Mapped[str] = mapped_column(String(255), default="")

    batch: Mapped[Batch] = relationship(back_populates="rows")
    jobs: Mapped[list[Job]] = relationship(back_populates="row", order_by="Job.sequence")


class Job(Base):
    """One prompt sent to Midjourney: a row times its repeat times its permutations."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    row_id: Mapped[int] = mapped_column(ForeignKey("sheet_rows.id", ondelete="CASCADE"))
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("midjourney_connections.id", ondelete="SET NULL")
    )
    # Position in the batch; the dispatcher sends jobs in this order.
    sequence: Mapped[int] = mapped_column(Integer)
    repeat_index: Mapped[int] = mapped_column(Integer, default=0)
    permutation_index: Mapped[int] = mapped_column(Integer, default=0)
    prompt: Mapped[str] = mapped_column(Text)
    mode: Mapped[str] = mapped_column(String(8), default="fast")
    status: Mapped[JobStatus] = mapped_column(_enum(JobStatus), default=JobStatus.QUEUED)
    failure_category: Mapped[FailureCategory | None] = mapped_column(_enum(FailureCategory))
    failure_message: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    # Correlation keys, each recorded as soon as it is known.
    nonce: Mapped[str | None] = mapped_column(String(32), index=True)
    interaction_id: Mapped[str | None] = mapped_column(String(32), index=True)
    progress_message_id: Mapped[str | None] = mapped_column(String(32), index=True)
    grid_message_id: Mapped[str | None] = mapped_column(String(32), index=True)
    midjourney_job_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Upscale indexes (1-4) still to press and still to receive.
    upscales_pending: Mapped[list[Any]] = mapped_column(default=list)
    # Upscale indexes already pressed, committed before each press, so a restart that
    # handles the grid again waits for their results instead of pressing twice.
    upscales_pressed: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    # Variation indexes (1-4) still to press and still to receive.
    variations_pending: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    # One JSON object per variation queued or pressed after the grid: its status and the
    # keys its render is matched by (pipeline.variations.VariationRender).
    variation_renders: Mapped[list[Any]] = mapped_column(default=list, server_default=text("'[]'"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # When the current stage began, for the per-stage timeouts.
    stage_started_at: Mapped[datetime | None] = mapped_column()

    batch: Mapped[Batch] = relationship(back_populates="jobs")
    row: Mapped[SheetRow] = relationship(back_populates="jobs")
    images: Mapped[list[Image]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="Image.id"
    )

    __table_args__ = (
        Index("ix_jobs_batch_status", "batch_id", "status"),
        Index("ix_jobs_connection_status", "connection_id", "status"),
    )


class Image(Base):
    """A downloaded result file in the blob store."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ImageKind] = mapped_column(_enum(ImageKind))
    # 1-4 for quadrants, upscales and variations; 0 for the grid itself.
    index: Mapped[int] = mapped_column(Integer, default=0)
    blob_key: Mapped[str] = mapped_column(String(255))
    # Path of the file inside the output ZIP.
    archive_name: Mapped[str] = mapped_column(String(255), default="")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    discord_message_id: Mapped[str | None] = mapped_column(String(32))
    source_url: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    job: Mapped[Job] = relationship(back_populates="images")

    __table_args__ = (
        Index("ux_images_job_kind_index", "job_id", "kind", "index", unique=True),
        NEVER_REUSED_IDS,
    )
