"""The gateway session of a ``SandboxUser``: IDENTIFY as a user, heartbeats, RESUME."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

_log = logging.getLogger(__name__)

DispatchHandler = Callable[[str, dict[str, Any]], Awaitable[None]]


class UserGatewayClient:
    """Keep one user gateway session open; resume after op 7 or a dropped socket."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        gateway_url: str,
        token: str,
        on_dispatch: DispatchHandler,
    ) -> None:
        self.session_id: str | None = None
        self._http = http
        self._gateway_url = gateway_url
        self._token = token
        self._on_dispatch = on_dispatch
        self._resume_url: str | None = None
        self._seq: int | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, ready_within: float) -> None:
        """Connect and wait for READY."""
        self._task = asyncio.create_task(self._run(), name="sandbox-user-gateway")
        await asyncio.wait_for(self._ready.wait(), ready_within)

    async def close(self) -> None:
        """Stop the session."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        resume = False
        while True:
            try:
                resume = await self._connect_once(resume)
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as error:
                _log.warning("sandbox user gateway connection failed: %s; reconnecting", error)
                resume = self.session_id is not None
                await asyncio.sleep(0.05)

    async def _connect_once(self, resume: bool) -> bool:
        """Run one connection; return whether the next one should RESUME."""
        base = self._resume_url if resume and self._resume_url else self._gateway_url
        async with self._http.ws_connect(f"{base}?v=10&encoding=json") as ws:
            hello = await ws.receive_json(timeout=5)
            interval = hello["d"]["heartbeat_interval"] / 1000
            heartbeat = asyncio.create_task(self._heartbeat(ws, interval))
            try:
                await ws.send_json(self._resume_frame() if resume else self._identify_frame())
                async for frame in ws:
                    if frame.type is not aiohttp.WSMsgType.TEXT:
                        break
                    next_resume = await self._receive(json.loads(frame.data))
                    if next_resume is not None:
                        return next_resume
                return self.session_id is not None
            finally:
                heartbeat.cancel()

    async def _receive(self, frame: dict[str, Any]) -> bool | None:
        op = frame.get("op")
        if op == 0:
            self._seq = frame.get("s")
            event, data = str(frame.get("t")), frame.get("d") or {}
            if event == "READY":
                self.session_id = data["session_id"]
                self._resume_url = data.get("resume_gateway_url")
            await self._on_dispatch(event, data)
            if event == "READY":
                self._ready.set()
        elif op == 7:
            return True
        elif op == 9:
            if not frame.get("d"):
                self.session_id, self._seq = None, None
            return bool(frame.get("d"))
        return None

    def _identify_frame(self) -> dict[str, Any]:
        properties = {"os": "Linux", "browser": "Chrome", "device": "", "system_locale": "en-US"}
        data = {"token": self._token, "capabilities": 16381, "properties": properties}
        return {"op": 2, "d": data | {"compress": False}}

    def _resume_frame(self) -> dict[str, Any]:
        data = {"token": self._token, "session_id": self.session_id, "seq": self._seq}
        return {"op": 6, "d": data}

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        while not ws.closed:
            await ws.send_json({"op": 1, "d": self._seq})
            await asyncio.sleep(interval)
