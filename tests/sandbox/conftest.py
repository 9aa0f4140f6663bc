"""Fixtures of the sandbox Discord tests: a running sandbox and real discord.py bots on it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import pytest

from midjau.settings import SandboxSettings
from sandbox.server import Sandbox, point_discord_py_at
from tests.sandbox.discord_harness import SandboxTestBot

StartBot = Callable[..., Awaitable[SandboxTestBot]]


@pytest.fixture
async def discord_sandbox() -> AsyncIterator[Sandbox]:
    """Yield a running sandbox without the simulated Midjourney, with fast timeouts."""
    settings = SandboxSettings(interaction_timeout_seconds=0.5)
    async with Sandbox(settings, midjourney=False) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start_bot(
    discord_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[StartBot]:
    """Yield a function that starts a real discord.py bot on the sandbox and waits for on_ready.

    Bots are closed before the sandbox stops, as a client whose server vanished first
    would retry and flood the log.
    """
    # Record the real values so they come back after the test.
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    default_gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", default_gateway)
    point_discord_py_at(discord_sandbox.api_base, discord_sandbox.gateway_url)
    running: list[tuple[SandboxTestBot, asyncio.Task[None]]] = []

    async def start(
        configure: Callable[[SandboxTestBot], None] | None = None,
        *,
        intents: discord.Intents | None = None,
    ) -> SandboxTestBot:
        if intents is None:
            intents = discord.Intents.default()
            intents.message_content = True
        bot = SandboxTestBot(command_prefix="!", intents=intents, guild_ready_timeout=0.05)
        ready = asyncio.Event()
        bot.add_listener(_set_on_ready(ready), "on_ready")
        if configure is not None:
            configure(bot)
        task = asyncio.create_task(bot.start(discord_sandbox.bot_token))
        running.append((bot, task))
        done, _ = await asyncio.wait(
            [task, asyncio.create_task(ready.wait())], timeout=5, return_when="FIRST_COMPLETED"
        )
        if task in done:
            task.result()  # raises the reason the bot died
        assert ready.is_set(), "bot did not become ready within 5 s"
        return bot

    yield start

    for bot, task in running:
        await bot.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


def _set_on_ready(ready: asyncio.Event) -> Callable[[], Coroutine[Any, Any, None]]:
    async def on_ready() -> None:
        ready.set()

    return on_ready
