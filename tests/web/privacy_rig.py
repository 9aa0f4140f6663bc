"""Stored data of a user for the data-rights tests: a batch with files, a ticket, a connection."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select, text

from storage.models import MidjourneyConnection, SupportTicket, User, utcnow
from tests.storage.stored_batches import add_batch_with_images
from tests.web.site import Site


@dataclass
class StoredData:
    """What was stored for one user, to look for later."""

    user_id: int
    email: str
    discord_user_id: str
    prompt: str
    batch_id: int
    blob_keys: list[str]
    output_files: list[Path]
    ticket_subject: str
    connection_id: int | None = None
    token_ciphertext: bytes = b""
    needles: list[str] = field(default_factory=list)


async def user_id_of(site: Site, email: str) -> int:
    async with site.db.sessions() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
    assert user_id is not None, email
    return int(user_id)


async def store_user_data(site: Site, email: str, *, discord_user_id: str) -> StoredData:
    """Give the user a Discord id, a finished batch with images and outputs, and a ticket."""
    user_id = await user_id_of(site, email)
    tag = uuid.uuid4().hex[:8]
    prompt = f"a lighthouse painted by {tag}"
    subject = f"help with {tag}"
    async with site.db.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.discord_user_id = discord_user_id
        rows = await add_batch_with_images(
            session,
            user_id=user_id,
            prompt=prompt,
            source_filename=f"sheet-{tag}.xlsx",
            outputs_dir=site.settings.data_dir / "outputs",
            finished_at=utcnow(),
        )
        keys = [rows.image_keys[0], f"batches/{rows.batch_id}/sheet/sheet.xlsx"]
        output_files = [rows.zip_path, rows.report_path]
        session.add(SupportTicket(user_id=user_id, subject=subject, body=f"my prompt {prompt}"))

    blobs = site.service.blobs
    for key in keys:
        await blobs.put(key, f"image of {tag}".encode())
    rows.zip_path.parent.mkdir(parents=True, exist_ok=True)
    for path in output_files:
        path.write_bytes(f"output of {tag}".encode())
    return StoredData(
        user_id=user_id,
        email=email,
        discord_user_id=discord_user_id,
        prompt=prompt,
        batch_id=rows.batch_id,
        blob_keys=keys,
        output_files=output_files,
        ticket_subject=subject,
        needles=[email, discord_user_id, prompt, subject, *keys],
    )


async def connect_sandbox_account(site: Site, data: StoredData) -> None:
    """Connect the sandbox's Discord user for the user through the running engine."""
    assert site.sandbox is not None
    connection_id = await site.service.engine.add_connection(
        data.user_id,
        token=site.sandbox.user_token,
        guild_id=site.sandbox.guild_id,
        channel_id=site.sandbox.channel_id,
        plan="pro",
    )
    async with site.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, connection_id)
    assert connection is not None
    data.connection_id = connection_id
    data.token_ciphertext = connection.token_ciphertext


async def table_rows(site: Site) -> dict[str, list[dict[str, Any]]]:
    """Return every row of every table in the database, by table name."""
    async with site.db.engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        tables: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            result = await connection.execute(text(f'SELECT * FROM "{name}"'))
            tables[name] = [dict(row) for row in result.mappings()]
    return tables


async def traces_in_database(site: Site, data: StoredData) -> list[str]:
    """Return where the database still contains anything of the user: ids, texts, keys, token."""
    traces = []
    for table, rows in (await table_rows(site)).items():
        for row in rows:
            for column, value in row.items():
                if _is_trace(table, column, value, data):
                    traces.append(f"{table}.{column} = {value!r}")
    return traces


def _is_trace(table: str, column: str, value: Any, data: StoredData) -> bool:
    if column == "user_id" and value == data.user_id:
        return True
    if (table, column) == ("users", "id") and value == data.user_id:
        return True
    if (table, column) == ("batches", "id") or column == "batch_id":
        return value == data.batch_id
    if isinstance(value, bytes):
        return bool(data.token_ciphertext) and data.token_ciphertext in value
    if isinstance(value, str):
        return any(needle in value for needle in data.needles)
    return False


def files_under(root: Path) -> list[Path]:
    """Return every file below ``root``."""
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.is_dir() else []


def traces_in_files(site: Site, data: StoredData) -> list[str]:
    """Return the blob-store and outputs files that still belong to the user's batch."""
    marker = f"/{data.batch_id}/"
    stored = files_under(site.settings.blobs_path) + files_under(site.settings.data_dir / "outputs")
    return [str(path) for path in stored if marker in path.as_posix() + "/"]
