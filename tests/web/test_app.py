import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete

from midjau.settings import Settings
from pipeline.downloads import sign_download
from pipeline.engine import Engine
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher, load_or_create_key
from storage.db import Database
from storage.models import Batch, MidjourneyConnection, User, utcnow
from tests.storage.stored_batches import BatchRows, add_batch_with_images
from tests.web.site import serve_app
from web.app import create_app

SECRET = b"web-tests-download-secret"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'midjau.db'}")
    await database.upgrade()
    yield database
    await database.dispose()


@pytest.fixture
async def engine(settings: Settings, database: Database, tmp_path: Path) -> AsyncIterator[Engine]:
    """Yield an engine that is not started, so no relay connects anywhere."""
    cipher = TokenCipher(load_or_create_key(tmp_path / "secret.key"))
    async with aiohttp.ClientSession() as http:
        engine = Engine(settings, database, LocalBlobStore(tmp_path / "blobs"), http, cipher)
        yield engine
        await engine.stop()


async def store_finished_batch(
    settings: Settings, database: Database, *, batch_id: int | None = None
) -> BatchRows:
    """Store a finished batch whose ZIP is on disk and whose report is already deleted."""
    async with database.sessions() as session, session.begin():
        user = User(discord_user_id="1180000000000000900", display_name="owner")
        session.add(user)
        await session.flush()
        rows = await add_batch_with_images(
            session,
            user_id=user.id,
            prompt="a quiet harbour at night",
            source_filename="harbour.xlsx",
            outputs_dir=settings.data_dir / "outputs",
            finished_at=utcnow(),
            batch_id=batch_id,
        )
    rows.zip_path.parent.mkdir(parents=True)
    rows.zip_path.write_bytes(b"zip bytes")
    return rows


async def downloaded_at(database: Database, batch_id: int) -> datetime | None:
    async with database.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    return batch.downloaded_at


async def created_at(database: Database, batch_id: int) -> datetime:
    async with database.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    return batch.created_at


async def get_token(base_url: str, token: str) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{base_url}/downloads/{token}") as response,
    ):
        return response.status, await response.read()


async def get_download(
    base_url: str, secret: bytes, database: Database, batch_id: int, filename: str
) -> int:
    batch_created_at = await created_at(database, batch_id)
    token = sign_download(
        secret, batch_id, filename, batch_created_at=batch_created_at, ttl_seconds=60
    )
    status, _ = await get_token(base_url, token)
    return status


async def get_health(base_url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/health") as response:
        return response.status, await response.json()


async def add_connection(engine: Engine, discord_user_id: str, label: str) -> int:
    """Store an active connection as connecting does, without asking Discord about it."""
    user_id = await engine.ensure_user(discord_user_id, label)
    async with engine.ledger.transaction() as session:
        connection = MidjourneyConnection(
            user_id=user_id,
            label=label,
            guild_id="1",
            channel_id=discord_user_id,
            plan="pro",
            token_ciphertext=engine.cipher.encrypt("token"),
        )
        session.add(connection)
        await session.flush()
        return connection.id


async def test_health_without_engine_reports_database_only(
    settings: Settings, database: Database
) -> None:
    async with serve_app(create_app(settings, database, SECRET)) as base_url:
        status, body = await get_health(base_url)

    assert status == 200
    assert body == {"status": "ok", "database": "ok"}


async def test_health_counts_unstarted_sessions_as_failing(
    settings: Settings, database: Database, engine: Engine
) -> None:
    # The engine is not started, so no active connection has an open Discord session.
    await add_connection(engine, "101", "first")
    paused_id = await add_connection(engine, "102", "second")
    await add_connection(engine, "103", "third")
    await engine.pause(paused_id, "Your token was rejected", link="https://discord.com/x")

    async with serve_app(create_app(settings, database, SECRET, engine=engine)) as base_url:
        status, body = await get_health(base_url)

    assert status == 200
    assert body["status"] == "ok"
    assert body["connections"] == {"working": 0, "paused": 1, "failing": 2}


async def test_health_shows_no_personal_data(
    settings: Settings, database: Database, engine: Engine
) -> None:
    connection_id = await add_connection(engine, "101", "private label")
    user_id = await engine.ensure_user("101")
    await engine.pause(connection_id, "Your token was rejected", link="https://discord.com/x")

    async with serve_app(create_app(settings, database, SECRET, engine=engine)) as base_url:
        _, body = await get_health(base_url)

    [health] = await engine.connection_health(user_id)
    text = str(body)
    assert body["connections"]["paused"] == 1
    assert "private label" not in text
    assert health.reason not in text
    assert "discord.com" not in text


async def test_signed_download_records_first_download(
    settings: Settings, database: Database
) -> None:
    rows = await store_finished_batch(settings, database)

    async with serve_app(create_app(settings, database, SECRET)) as base_url:
        first_status = await get_download(
            base_url, SECRET, database, rows.batch_id, rows.zip_path.name
        )
        first = await downloaded_at(database, rows.batch_id)
        second_status = await get_download(
            base_url, SECRET, database, rows.batch_id, rows.zip_path.name
        )

    assert first_status == 200
    assert second_status == 200
    assert first is not None
    assert await downloaded_at(database, rows.batch_id) == first


async def test_failed_download_records_nothing(settings: Settings, database: Database) -> None:
    rows = await store_finished_batch(settings, database)

    async with serve_app(create_app(settings, database, SECRET)) as base_url:
        missing = await get_download(
            base_url, SECRET, database, rows.batch_id, rows.report_path.name
        )
        forged = await get_download(
            base_url, b"another secret", database, rows.batch_id, rows.zip_path.name
        )

    assert missing == 404
    assert forged == 404
    assert await downloaded_at(database, rows.batch_id) is None


async def test_deleted_batch_link_never_opens_reused_id(
    settings: Settings, database: Database
) -> None:
    old = await store_finished_batch(settings, database)
    old_token = sign_download(
        SECRET,
        old.batch_id,
        old.zip_path.name,
        batch_created_at=await created_at(database, old.batch_id),
        ttl_seconds=3600,
    )
    async with database.sessions() as session, session.begin():
        # The account is deleted with its batches, as the data-rights page does.
        await session.execute(delete(User))

    async with serve_app(create_app(settings, database, SECRET)) as base_url:
        deleted_status, _ = await get_token(base_url, old_token)
        # The database never reuses an id, but a restored backup may; the new batch's ZIP
        # then lies at the same path.
        shutil.rmtree(old.zip_path.parent)
        new = await store_finished_batch(settings, database, batch_id=old.batch_id)
        new.zip_path.write_bytes(b"the next user's images")
        reused_status, reused_body = await get_token(base_url, old_token)
        own_status = await get_download(base_url, SECRET, database, new.batch_id, new.zip_path.name)

    assert new.batch_id == old.batch_id
    assert deleted_status == 404
    assert reused_status == 404
    assert b"next user" not in reused_body
    assert own_status == 200


async def test_malformed_request_logs_one_warning(
    settings: Settings, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async with serve_app(create_app(settings, database, SECRET)) as base_url:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20_000 + b"\r\n\r\n")
        await writer.drain()
        status_line = await reader.readline()
        writer.close()
        await writer.wait_closed()

    assert status_line.split()[1] == b"400"
    server_records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(server_records) == 1
    record = server_records[0]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "malformed HTTP request from 127.0.0.1 rejected: LineTooLong" in record.getMessage()
