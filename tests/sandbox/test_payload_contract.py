"""Every payload the sandbox sends goes through discord.py 2.7's own parsers.

discord.py reads many keys with ``[]`` and does not catch parser errors, so a payload that
lacks one kills a real bot. These tests capture what the sandbox sends on the wire, feed
it to discord.py's gateway code and model constructors, and prove for each required key
that removing it breaks the parser, so the full payload passing means something.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Sequence
from typing import Any

import aiohttp
import discord
import pytest
from discord.app_commands import AppCommand
from discord.appinfo import AppInfo
from discord.gateway import DiscordWebSocket

from sandbox.discord.applications import SandboxFile
from sandbox.server import Sandbox
from tests.sandbox.discord_harness import WITH_MESSAGE_CONTENT, RawGateway

MIDJOURNEY_BOT_ID = "936929561302675456"
PARSER_ERRORS = (KeyError, AttributeError, TypeError)

REQUIRED_KEYS: dict[str, list[tuple[Any, ...]]] = {
    "READY": [
        ("session_id",),
        ("resume_gateway_url",),
        ("guilds",),
        ("user", "discriminator"),
        ("user", "avatar"),
    ],
    "GUILD_CREATE": [
        ("channels", 0, "type"),
        ("channels", 0, "position"),
        ("members", 0, "flags"),
        ("members", 0, "roles"),
        ("roles", 0, "name"),
    ],
    "MESSAGE_CREATE": [
        ("type",),
        ("content",),
        ("author",),
        ("attachments", 0, "size"),
        ("attachments", 0, "proxy_url"),
    ],
    "MESSAGE_UPDATE": [("type",), ("content",)],
    "INTERACTION_CREATE": [
        ("attachment_size_limit",),
        ("version",),
        ("token",),
        ("member", "flags"),
    ],
}


class ClientParser:
    """discord.py's gateway message handling and parsers, fed frames without a socket."""

    def __init__(self) -> None:
        client = discord.Client(intents=discord.Intents.all())
        self.state = client._connection
        self.ws = DiscordWebSocket(socket=None, loop=asyncio.get_running_loop())  # type: ignore[arg-type]
        self.ws._connection = self.state  # type: ignore[attr-defined]
        self.ws._discord_parsers = self.state.parsers  # type: ignore[attr-defined]
        self.ws.shard_id = None  # type: ignore[attr-defined]

    async def feed(self, frame: dict[str, Any]) -> None:
        await self.ws.received_message(json.dumps(frame))

    def close(self) -> None:
        if self.state._ready_task is not None:
            self.state._ready_task.cancel()


@pytest.fixture
async def wire_frames(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> dict[str, dict[str, Any]]:
    """Capture one frame of each dispatch type the bot receives, straight off the socket."""
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.identify(discord_sandbox.bot_token, WITH_MESSAGE_CONTENT)
    state = discord_sandbox.discord
    option = {"type": 11, "name": "sheet", "description": "The sheet", "required": True}
    state.commands.overwrite(
        discord_sandbox.bot_user_id,
        discord_sandbox.guild_id,
        [{"name": "batch", "description": "Run a sheet", "options": [option]}],
    )

    button = {"type": 2, "style": 2, "label": "U1", "custom_id": "MJ::JOB::upsample::1::x"}
    grid = state.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content="**fox** (fast)",
        files=[SandboxFile("grid.png", b"png", "image/png", 8, 8)],
        components=[{"type": 1, "components": [button]}],
    )
    state.edit_message(discord_sandbox.channel_id, grid["id"], content="**fox** (done)")
    async with discord_sandbox.user() as user:
        await user.run_slash_command("batch", {}, {"sheet": ("rows.xlsx", b"xlsx")})

    frames: dict[str, dict[str, Any]] = {}
    for frame in gateway.frames:  # READY was read by identify()
        if frame.get("t") in REQUIRED_KEYS:
            frames.setdefault(frame["t"], frame)
    async with asyncio.timeout(3):
        while len(frames) < len(REQUIRED_KEYS):
            frame = await gateway.receive()
            if frame.get("t") in REQUIRED_KEYS:
                frames.setdefault(frame["t"], frame)
    await gateway.close()
    return frames


def without(frame: dict[str, Any], path: Sequence[Any]) -> dict[str, Any]:
    broken = copy.deepcopy(frame)
    target = broken["d"]
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return broken


async def parse_in_order(frames: dict[str, dict[str, Any]], last: dict[str, Any]) -> None:
    """Feed READY and GUILD_CREATE (for context), the frames before ``last``, then ``last``."""
    parser = ClientParser()
    try:
        for event in REQUIRED_KEYS:
            if event == last["t"]:
                await parser.feed(last)
                return
            await parser.feed(frames[event])
    finally:
        parser.close()


async def test_wire_payloads_parse_in_discord_py(wire_frames: dict[str, dict[str, Any]]) -> None:
    for event, frame in wire_frames.items():
        await parse_in_order(wire_frames, frame)
        assert frame["t"] == event


@pytest.mark.parametrize(
    ("event", "path"), [(event, path) for event, paths in REQUIRED_KEYS.items() for path in paths]
)
async def test_each_required_key_is_needed(
    wire_frames: dict[str, dict[str, Any]], event: str, path: tuple[Any, ...]
) -> None:
    broken = without(wire_frames[event], path)
    with pytest.raises(PARSER_ERRORS):
        await parse_in_order(wire_frames, broken)


async def test_rest_payloads_build_discord_py_models(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bot {discord_sandbox.bot_token}"}
    base = discord_sandbox.api_base
    state = discord.Client(intents=discord.Intents.default())._connection
    command = {"name": "batch", "description": "Run a sheet", "options": []}

    async with http.get(f"{base}/users/@me", headers=headers) as response:
        me = discord.ClientUser(state=state, data=await response.json())
    async with http.get(f"{base}/oauth2/applications/@me", headers=headers) as response:
        info = AppInfo(state, await response.json())
    url = f"{base}/applications/{discord_sandbox.bot_user_id}/commands"
    async with http.put(url, headers=headers, json=[command]) as response:
        synced = [AppCommand(data=data, state=state) for data in await response.json()]

    assert str(me.id) == discord_sandbox.bot_user_id
    assert str(info.id) == discord_sandbox.bot_user_id
    assert str(info.owner.id) == discord_sandbox.user_id
    assert synced[0].name == "batch"
    assert str(synced[0].application_id) == discord_sandbox.bot_user_id
