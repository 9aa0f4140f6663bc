from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from midjau.settings import Settings
from pipeline.engine import Engine
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher, load_or_create_key
from storage.db import Database
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


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def get_health(base_url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/health") as response:
        return response.status, await response.json()


async def add_connection(engine: Engine, discord_user_id: str, label: str) -> int:
    user_id = await engine.ensure_user(discord_user_id, label)
    return await engine.add_connection(
        user_id, token="token", guild_id="1", channel_id="2", plan="pro", label=label
    )


async def test_health_without_engine_reports_database_only(
    settings: Settings, database: Database
) -> None:
    async with serve(create_app(settings, database, SECRET)) as base_url:
        status, body = await get_health(base_url)

    assert status == 200
    assert body == {"status": "ok", "database": "ok"}


async def test_health_counts_connections_by_state(
    settings: Settings, database: Database, engine: Engine
) -> None:
    await add_connection(engine, "101", "first")
    paused_id = await add_connection(engine, "102", "second")
    await add_connection(engine, "103", "third")
    await engine.pause(paused_id, "Your token was rejected", link="https://discord.com/x")

    async with serve(create_app(settings, database, SECRET, engine=engine)) as base_url:
        status, body = await get_health(base_url)

    assert status == 200
    assert body["status"] == "ok"
    assert body["connections"]["working"] == 2
    assert body["connections"]["paused"] == 1


async def test_health_shows_no_personal_data(
    settings: Settings, database: Database, engine: Engine
) -> None:
    connection_id = await add_connection(engine, "101", "private label")
    user_id = await engine.ensure_user("101")
    await engine.pause(connection_id, "Your token was rejected", link="https://discord.com/x")

    async with serve(create_app(settings, database, SECRET, engine=engine)) as base_url:
        _, body = await get_health(base_url)

    [health] = await engine.connection_health(user_id)
    text = str(body)
    assert body["connections"]["paused"] == 1
    assert "private label" not in text
    assert health.reason not in text
    assert "discord.com" not in text
