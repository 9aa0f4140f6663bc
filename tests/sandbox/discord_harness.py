"""Helpers of the sandbox Discord tests: a test application, a raw gateway client, a test bot."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from sandbox.discord.applications import SandboxFile
from sandbox.discord.state import SandboxDiscord

ECHO_APP_ID = "1180000000000000900"
ECHO_COMMAND_ID = "1180000000000000901"
ECHO_VERSION = "1180000000000000902"
ALL_BUT_MESSAGE_CONTENT = discord.Intents.default().value & ~(1 << 15)
WITH_MESSAGE_CONTENT = discord.Intents.default().value | (1 << 15)


class EchoApplication:
    """A simulated application: /echo posts the text back with a button; the button gets an
    ephemeral response. It records every payload it is handed."""

    application_id = ECHO_APP_ID

    def __init__(self, state: SandboxDiscord) -> None:
        self.state = state
        self.bot_user: dict[str, Any] = {
            "id": ECHO_APP_ID,
            "username": "Echo",
            "discriminator": "0",
            "avatar": None,
            "bot": True,
        }
        self.received: list[dict[str, Any]] = []
        self.handled = asyncio.Event()

    def commands(self) -> list[dict[str, Any]]:
        options = [
            {"type": 3, "name": "text", "description": "Text to echo", "required": True},
            {"type": 11, "name": "file", "description": "A file", "required": False},
        ]
        return [
            {
                "id": ECHO_COMMAND_ID,
                "type": 1,
                "version": ECHO_VERSION,
                "name": "echo",
                "description": "Echo text",
                "options": options,
            }
        ]

    def check_interaction(
        self, user_id: str, payload: dict[str, Any]
    ) -> tuple[int, dict[str, Any]] | None:
        data = payload.get("data") or {}
        if payload.get("type") == 2 and data.get("version") != ECHO_VERSION:
            errors = {
                "data": {
                    "_errors": [
                        {
                            "code": "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION",
                            "message": "outdated",
                        }
                    ]
                }
            }
            return 400, {"code": 50035, "message": "Invalid Form Body", "errors": errors}
        return None

    async def handle_interaction(
        self, user_id: str, session_id: str | None, payload: dict[str, Any], interaction_id: str
    ) -> None:
        self.received.append(payload)
        channel_id = payload["channel_id"]
        if payload["type"] == 2:
            text = next(o["value"] for o in payload["data"]["options"] if o["name"] == "text")
            button = {"type": 2, "style": 1, "label": "Again", "custom_id": "echo::again"}
            self.state.post_message(
                channel_id,
                self.bot_user,
                content=f"echo: {text} <@{user_id}>",
                components=[{"type": 1, "components": [button]}],
                nonce=payload.get("nonce"),
                interaction={"id": interaction_id, "type": 2, "name": "echo", "user_id": user_id},
                files=[SandboxFile("echo.txt", text.encode(), "text/plain")],
            )
        else:
            self.state.post_message(
                channel_id, self.bot_user, content="only you see this", ephemeral_to=user_id
            )
        self.handled.set()


class RawGateway:
    """A bare gateway client that records every frame, for tests of the protocol itself."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.frames: list[dict[str, Any]] = []

    async def connect(self) -> dict[str, Any]:
        self.ws = await self.http.ws_connect(f"{self.url}?v=10&encoding=json")
        return await self.receive()

    async def identify(self, token: str, intents: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"token": token, "properties": {"os": "linux"}}
        if intents is not None:
            data["intents"] = intents
        await self.send(2, data)
        return await self.wait_for("READY")

    async def send(self, op: int, data: Any) -> None:
        assert self.ws is not None
        await self.ws.send_json({"op": op, "d": data})

    async def receive(self, within: float = 2.0) -> dict[str, Any]:
        assert self.ws is not None
        message = await self.ws.receive(timeout=within)
        if message.type is not aiohttp.WSMsgType.TEXT:
            return {"closed": self.ws.close_code, "type": str(message.type)}
        frame = json.loads(message.data)
        self.frames.append(frame)
        return frame

    async def wait_for(self, event: str, within: float = 2.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                frame = await self.receive(within)
                if "closed" in frame:
                    raise AssertionError(f"socket closed before {event}: {frame}")
                if frame.get("t") == event:
                    return frame

    async def quiet_for(self, seconds: float) -> list[dict[str, Any]]:
        """Return every frame that arrives within ``seconds``."""
        received: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(seconds):
                while True:
                    received.append(await self.receive(seconds))
        except TimeoutError:
            return received

    async def close(self, code: int = 1000) -> None:
        """Close the socket; 1000 ends the session, other codes leave it resumable."""
        if self.ws is not None:
            await self.ws.close(code=code)


class SandboxTestBot(commands.Bot):
    """A discord.py bot for the sandbox: no 5 s sleep before re-identifying."""

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        return None
