"""Fixtures of the bot tests: the real MidjauBot and Engine against the real sandbox Discord.

The engine is built but not started, so no relay connects and no prompt is sent. Batches
are stored in a SQLite file, and the bot's replies travel through the sandbox's REST API
and gateway as they would on Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import Workbook
from pydantic import SecretStr

from bot.client import MidjauBot
from midjau.settings import DiscordSettings, SandboxSettings, Settings
from midjourney.messages import ChannelEvent
from pipeline.engine import Engine
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher, load_or_create_key
from storage.db import Database
from storage.models import MidjourneyConnection

DOWNLOAD_SECRET = b"bot-tests-download-secret"
Message = dict[str, Any]


class RecordingEngine(Engine):
    """The real engine, also keeping every channel event the watcher hands it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.channel_events: list[ChannelEvent] = []
        self.channel_event_arrived = asyncio.Event()

    async def handle_channel_event(self, event: ChannelEvent) -> None:
        self.channel_events.append(event)
        self.channel_event_arrived.set()
        await super().handle_channel_event(event)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    """Yield a running sandbox Discord without the simulated Midjourney."""
    async with Sandbox(SandboxSettings(), midjourney=False) as running:
        yield running


@pytest.fixture
def settings(sandbox: Sandbox, tmp_path: Path) -> Settings:
    """Return settings that aim the bot at the sandbox, with a short ready timeout."""
    discord_settings = DiscordSettings(
        bot_token=SecretStr(sandbox.bot_token),
        api_base=sandbox.api_base,
        gateway_url=sandbox.gateway_url,
        guild_ready_timeout=0.05,
        progress_edit_interval=0.0,
    )
    return Settings(data_dir=tmp_path / "data", discord=discord_settings, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def engine(settings: Settings, tmp_path: Path) -> AsyncIterator[RecordingEngine]:
    """Yield an engine on a migrated SQLite database; it is not started."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'midjau.db'}")
    await database.upgrade()
    cipher = TokenCipher(load_or_create_key(tmp_path / "secret.key"))
    async with aiohttp.ClientSession() as http:
        engine = RecordingEngine(
            settings, database, LocalBlobStore(tmp_path / "blobs"), http, cipher
        )
        try:
            yield engine
        finally:
            await engine.stop()
            await database.dispose()


@pytest.fixture
async def bot(settings: Settings, engine: RecordingEngine) -> AsyncIterator[MidjauBot]:
    """Yield the MidJAu bot, logged in to the sandbox and ready."""
    assert settings.discord.bot_token is not None
    client = MidjauBot(settings, engine, download_secret=DOWNLOAD_SECRET)
    task = asyncio.create_task(client.start(settings.discord.bot_token.get_secret_value()))
    ready = asyncio.create_task(client.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        await client.close()
        raise RuntimeError(
            f"the bot did not get ready: {task.exception() if task.done() else 'timeout'}"
        )
    try:
        yield client
    finally:
        await client.close()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def user(sandbox: Sandbox, bot: MidjauBot) -> AsyncIterator[SandboxUser]:
    """Yield the sandbox's human user with an open gateway session."""
    actor = sandbox.user()
    await actor.start()
    yield actor


@pytest.fixture
async def connected_user_id(engine: Engine, sandbox: Sandbox) -> int:
    """Register the sandbox user with a Midjourney connection; return the MidJAu user id."""
    user_id = await engine.ensure_user(sandbox.user_id, "demo")
    await engine.add_connection(
        user_id,
        token=sandbox.user_token,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        plan="pro",
    )
    return user_id


async def store_other_connection(
    engine: Engine, user_id: int, *, guild_id: str, channel_id: str, label: str = ""
) -> int:
    """Store a connection of another Discord account without asking Discord about it.

    Connecting checks the token with Discord, and the sandbox knows only its own user, so a
    second account's connection is written to the database as an earlier connect left it.
    """
    async with engine.ledger.transaction() as session:
        connection = MidjourneyConnection(
            user_id=user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            plan="pro",
            label=label,
            token_ciphertext=engine.cipher.encrypt("another-account-token"),
        )
        session.add(connection)
        await session.flush()
        return connection.id


def sheet_bytes(rows: list[list[Any]]) -> bytes:
    """Return an .xlsx workbook whose first sheet contains ``rows``, header first."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Prompts"
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def by_bot(sandbox: Sandbox, check: Callable[[Message], bool]) -> Callable[[Message], bool]:
    """Match a message the MidJAu bot wrote (a reply, a followup or a channel message)."""

    def predicate(message: Message) -> bool:
        author = message.get("author") or {}
        return str(author.get("id")) == sandbox.bot_user_id and check(message)

    return predicate


def buttons_of(message: Message) -> list[dict[str, Any]]:
    """Return the buttons of a message, in order."""
    return [
        component
        for row in message.get("components") or []
        for component in row.get("components") or []
        if component.get("type") == 2
    ]
