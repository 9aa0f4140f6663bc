"""The connected user's own Discord gateway session, spoken raw over aiohttp.

discord.py cannot log in as a user, and the relay needs what only the user's session
receives: INTERACTION_* events and ephemeral messages. This client identifies like the web
client, heartbeats, resumes after RECONNECT (op 7) or a dropped socket, re-identifies after
INVALID_SESSION (op 9), and hands every other dispatch to a callback in arrival order.
A resumed session receives the dispatches it missed; a new one does not, so the owner is
told (``on_reidentified``) and can read what it missed from channel history.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from midjourney.messages import (
    ChannelEvent,
    ChannelMessage,
    EventSource,
    InteractionCreated,
    InteractionFailed,
    InteractionSucceeded,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    ModalCreated,
)

_log = logging.getLogger(__name__)

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0, 1, 2, 6, 7, 9, 10, 11,
)  # fmt: skip
# Close codes after which reconnecting cannot help: authentication failed, invalid
# shard, sharding required, invalid API version, invalid or disallowed intents.
FATAL_CLOSE_CODES = frozenset({4004, 4010, 4011, 4012, 4013, 4014})
AUTHENTICATION_FAILED = 4004

BROWSER_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
CLIENT_PROPERTIES: dict[str, Any] = {
    "os": "Windows",
    "browser": "Chrome",
    "device": "",
    "system_locale": "en-US",
    "browser_user_agent": BROWSER_USER_AGENT,
    "browser_version": "126.0.0.0",
    "os_version": "10",
    "referrer": "",
    "referring_domain": "",
    "release_channel": "stable",
    "client_build_number": 312000,
    "client_event_source": None,
}
# Capability bits the web client announces in IDENTIFY.
CLIENT_CAPABILITIES = 16381

Dispatch = Callable[[str, dict[str, Any]], Awaitable[None]]
SessionHook = Callable[[], Awaitable[None]]


class GatewayAuthenticationError(Exception):
    """The gateway closed with 4004: the token was rejected."""


@dataclass(frozen=True, slots=True)
class GatewayTimings:
    """Seconds the gateway client waits; tests shorten them."""

    ready_timeout: float = 30.0
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    # Discord's gateway docs request a random 1–5 s wait before identifying after op 9.
    reidentify_min_delay: float = 1.0
    reidentify_max_delay: float = 5.0


class UserGateway:
    """One user's gateway session; ``start`` returns once READY has arrived."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        token: str,
        gateway_url: str,
        on_dispatch: Dispatch,
        timings: GatewayTimings | None = None,
        on_reidentified: SessionHook | None = None,
    ) -> None:
        self._http = http
        self._token = token
        self._gateway_url = gateway_url
        self._on_dispatch = on_dispatch
        # Awaited in a task of its own after every READY but the first.
        self.on_reidentified = on_reidentified
        self._hooks: set[asyncio.Task[None]] = set()
        self.timings = timings or GatewayTimings()
        self.session_id: str | None = None
        self.user: dict[str, Any] = {}
        self.resume_gateway_url: str | None = None
        self._sequence: int | None = None
        self._acknowledged = True
        self._ready = asyncio.Event()
        self._fatal: Exception | None = None
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None

    def __repr__(self) -> str:
        return f"<UserGateway url={self._gateway_url!r} session_id={self.session_id!r}>"

    async def start(self) -> None:
        """Connect and wait for READY; raise GatewayAuthenticationError for a rejected token."""
        self._task = asyncio.create_task(self._run(), name="midjourney-user-gateway")
        ready = asyncio.create_task(self._ready.wait())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=self.timings.ready_timeout, return_when="FIRST_COMPLETED"
        )
        if ready not in done:
            ready.cancel()
            error = self._fatal or TimeoutError("the user gateway sent no READY in time")
            await self.close()
            raise error

    async def close(self) -> None:
        """Close the socket and stop reconnecting."""
        self._closing = True
        if self._socket is not None and not self._socket.closed:
            await self._socket.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for hook in list(self._hooks):
            hook.cancel()
        await asyncio.gather(*self._hooks, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            resumed_or_ready = await self._connect_once()
            if self._closing or self._fatal is not None:
                return
            failures = 0 if resumed_or_ready else failures + 1
            if failures:
                delay = min(
                    self.timings.reconnect_max_delay,
                    self.timings.reconnect_min_delay * 2 ** (failures - 1),
                )
                delay *= random.uniform(0.8, 1.2)  # noqa: S311 - back-off jitter, not a secret
                _log.warning("user gateway connection lost; reconnecting in %.1f s", delay)
                await asyncio.sleep(delay)

    async def _connect_once(self) -> bool:
        """Run one socket until it closes; return whether it reached READY or RESUMED."""
        can_resume = self.session_id is not None and self._sequence is not None
        base = (
            self.resume_gateway_url if can_resume and self.resume_gateway_url else self._gateway_url
        )
        url = yarl.URL(base).update_query(v="9", encoding="json")
        reached = False
        try:
            async with self._http.ws_connect(url, autoping=True, max_msg_size=0) as socket:
                self._socket = socket
                reached = await self._serve(socket, resume=can_resume)
                close_code = socket.close_code
        except (aiohttp.ClientError, OSError, TimeoutError, TypeError, ValueError) as error:
            # TypeError and ValueError: the server closed before HELLO or sent broken JSON.
            _log.warning("user gateway connection failed: %s", type(error).__name__)
            return False
        finally:
            self._socket = None

        if close_code in FATAL_CLOSE_CODES:
            _log.error("user gateway closed with code %s; not reconnecting", close_code)
            self._fatal = (
                GatewayAuthenticationError("Discord rejected the user token on the gateway")
                if close_code == AUTHENTICATION_FAILED
                else ConnectionError(f"the user gateway closed with code {close_code}")
            )
        return reached

    async def _serve(self, socket: aiohttp.ClientWebSocketResponse, *, resume: bool) -> bool:
        hello = await socket.receive_json(timeout=self.timings.ready_timeout)
        if hello.get("op") != HELLO:
            _log.warning("user gateway sent op %s before HELLO; reconnecting", hello.get("op"))
            return False
        interval = float(hello["d"]["heartbeat_interval"]) / 1000
        heartbeat = asyncio.create_task(
            self._heartbeat(socket, interval), name="midjourney-user-heartbeat"
        )
        self._acknowledged = True
        try:
            await socket.send_json(self._resume_payload() if resume else self._identify_payload())
            return await self._read(socket)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _read(self, socket: aiohttp.ClientWebSocketResponse) -> bool:
        reached = False
        async for message in socket:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            frame = message.json()
            op = frame.get("op")
            if op == DISPATCH:
                reached = await self._handle_dispatch(frame) or reached
            elif op == HEARTBEAT:
                await socket.send_json({"op": HEARTBEAT, "d": self._sequence})
            elif op == HEARTBEAT_ACK:
                self._acknowledged = True
            elif op == RECONNECT:
                _log.info("user gateway asked to reconnect; resuming session")
                await socket.close(code=4000)
            elif op == INVALID_SESSION:
                await self._invalidate(resumable=bool(frame.get("d")))
                await socket.close(code=4000)
        return reached

    async def _handle_dispatch(self, frame: dict[str, Any]) -> bool:
        if frame.get("s") is not None:
            self._sequence = int(frame["s"])
        name, data = str(frame.get("t")), frame.get("d") or {}
        if name == "READY":
            self.session_id = data.get("session_id")
            self.resume_gateway_url = data.get("resume_gateway_url")
            self.user = data.get("user") or {}
            _log.info("user gateway ready as user %s", self.user.get("id"))
            if self._ready.is_set():
                self._run_reidentified_hook()
            self._ready.set()
            return True
        if name == "RESUMED":
            _log.info("user gateway resumed session")
            return True
        try:
            await self._on_dispatch(name, data)
        except Exception:
            _log.exception("user gateway handler failed on %s", name)
        return False

    def _run_reidentified_hook(self) -> None:
        # A task, because the hook reads channel history while this loop must keep reading.
        if self.on_reidentified is None:
            return
        hook = asyncio.create_task(
            _logged_hook(self.on_reidentified()), name="midjourney-user-reidentified"
        )
        self._hooks.add(hook)
        hook.add_done_callback(self._hooks.discard)

    async def _invalidate(self, *, resumable: bool) -> None:
        if resumable:
            _log.info("user gateway session invalidated but resumable")
            return
        _log.info("user gateway session invalidated; identifying again")
        self.session_id, self._sequence = None, None
        delay = random.uniform(self.timings.reidentify_min_delay, self.timings.reidentify_max_delay)  # noqa: S311
        await asyncio.sleep(delay)

    async def _heartbeat(self, socket: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        # The first beat waits a random part of the interval, as Discord's gateway docs request.
        await asyncio.sleep(interval * random.random())  # noqa: S311 - timing jitter
        while not socket.closed:
            if not self._acknowledged:
                _log.warning("user gateway missed a heartbeat ACK; reconnecting")
                await socket.close(code=4000)
                return
            self._acknowledged = False
            await socket.send_json({"op": HEARTBEAT, "d": self._sequence})
            await asyncio.sleep(interval)

    def _identify_payload(self) -> dict[str, Any]:
        data = {
            "token": self._token,
            "capabilities": CLIENT_CAPABILITIES,
            "properties": CLIENT_PROPERTIES,
            "presence": {"status": "online", "since": 0, "activities": [], "afk": False},
            "compress": False,
            "client_state": {"guild_versions": {}},
        }
        return {"op": IDENTIFY, "d": data}

    def _resume_payload(self) -> dict[str, Any]:
        return {
            "op": RESUME,
            "d": {"token": self._token, "session_id": self.session_id, "seq": self._sequence},
        }


async def _logged_hook(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        _log.exception("user gateway: the handler of a new session failed")


def channel_event(name: str, data: dict[str, Any], channel_id: str) -> ChannelEvent | None:
    """Convert a user-session dispatch to the event record, or None when it is not ours."""
    if name in ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE"):
        if str(data.get("channel_id")) != channel_id or "id" not in data:
            return None
        if name == "MESSAGE_DELETE":
            return MessageDeleted(str(data["id"]), channel_id, EventSource.USER)
        message = ChannelMessage.from_payload(data)
        if name == "MESSAGE_CREATE":
            return MessageCreated(message, EventSource.USER)
        return MessageUpdated(message, EventSource.USER)

    interaction_id, nonce = str(data.get("id", "")), _optional_str(data.get("nonce"))
    if name == "INTERACTION_CREATE":
        return InteractionCreated(interaction_id, nonce)
    if name == "INTERACTION_SUCCESS":
        return InteractionSucceeded(interaction_id, nonce)
    if name == "INTERACTION_FAILURE":
        return InteractionFailed(interaction_id, nonce, int(data.get("reason_code") or 1))
    if name in ("INTERACTION_MODAL_CREATE", "INTERACTION_IFRAME_MODAL_CREATE"):
        return ModalCreated(
            interaction_id=interaction_id,
            nonce=nonce,
            custom_id=str(data.get("custom_id", "")),
            title=str(data.get("title") or ""),
            iframe_path=data.get("iframe_path"),
            components=tuple(data.get("components") or ()),
        )
    return None


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)
