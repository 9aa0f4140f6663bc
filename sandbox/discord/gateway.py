"""The gateway: websocket sessions with HELLO, IDENTIFY, heartbeats, RESUME and dispatch.

A session outlives its connection: dispatches made while no socket is attached are kept
(up to ``REPLAY_LIMIT``) and replayed on RESUME, as Discord does; a session invalidated as
not resumable is forgotten with them. Frames are TEXT JSON, which discord.py reads without
inflating, whatever ``compress=`` value its URL requests.

For tests, an account's IDENTIFY and RESUME can be held back (``hold_sessions``) so that
its client stays disconnected while other accounts keep posting, as during an outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from sandbox.discord.messages import blank_content
from sandbox.discord.payloads import guild_payload, member_payload, ready_payload
from sandbox.discord.world import (
    DIRECT_MESSAGES_INTENT,
    GUILD_MESSAGES_INTENT,
    MESSAGE_CONTENT_INTENT,
    Account,
    Channel,
)

if TYPE_CHECKING:
    from sandbox.discord.state import SandboxDiscord

_log = logging.getLogger(__name__)

# Seconds before a heartbeat is acknowledged; see _receive.
HEARTBEAT_ACK_DELAY = 0.02
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE_UPDATE, VOICE_STATE_UPDATE = 0, 1, 2, 3, 4
RESUME, RECONNECT, REQUEST_GUILD_MEMBERS, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 6, 7, 8, 9, 10, 11

# Close codes Discord uses; the client gives up after 4004 and 4013, and resumes after 4000.
UNKNOWN_ERROR, UNKNOWN_OPCODE, DECODE_ERROR, NOT_AUTHENTICATED = 4000, 4001, 4002, 4003
AUTHENTICATION_FAILED, ALREADY_AUTHENTICATED, INVALID_SEQ, INVALID_INTENTS = 4004, 4005, 4007, 4013

REPLAY_LIMIT = 5000


@dataclass(slots=True)
class GatewaySession:
    """One identified session: its account, intents and the dispatches sent so far."""

    id: str
    account: Account
    intents: int | None
    seq: int = 0
    sent: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=REPLAY_LIMIT))
    connection: GatewayConnection | None = None

    @property
    def is_bot(self) -> bool:
        return self.account.bot


class GatewayConnection:
    """One websocket; a single writer task sends its frames in order."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.session: GatewaySession | None = None
        self.closed_by_server = False
        self._outbox: asyncio.Queue[str | int] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_frames(), name="sandbox-gateway-writer")

    def send(self, payload: dict[str, Any]) -> None:
        """Queue one op frame."""
        self._outbox.put_nowait(json.dumps(payload))

    def send_frame(self, frame: str) -> None:
        """Queue an already serialised frame."""
        self._outbox.put_nowait(frame)

    def close(self, code: int) -> None:
        """Close the socket with a close code after the frames already queued."""
        self._outbox.put_nowait(code)

    async def stop(self) -> None:
        """Cancel the writer task."""
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer

    async def _write_frames(self) -> None:
        while True:
            item = await self._outbox.get()
            if isinstance(item, int):
                self.closed_by_server = True
                await self.ws.close(code=item)
                return
            try:
                await self.ws.send_str(item)
            except ConnectionError:
                _log.info("gateway socket went away while sending; stopping its writer")
                return


class GatewayHub:
    """Every gateway session and connection, and the rules for who receives which event."""

    def __init__(self, discord: SandboxDiscord) -> None:
        self._discord = discord
        self.sessions: dict[str, GatewaySession] = {}
        self.connections: set[GatewayConnection] = set()
        # IDENTIFY and RESUME frames of held accounts, by account id, processed on release.
        self._held: dict[str, list[tuple[GatewayConnection, int, dict[str, Any]]]] = {}
        # Set at shutdown so clients that reconnect meanwhile are turned away.
        self.closing = False

    def sessions_of(self, user_id: str) -> list[GatewaySession]:
        """Return the sessions of one account."""
        return [s for s in self.sessions.values() if s.account.id == user_id]

    def dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        """Send one dispatch to a session, or keep it for replay when it has no socket."""
        session.seq += 1
        frame = json.dumps({"op": DISPATCH, "t": event, "s": session.seq, "d": data})
        session.sent.append((session.seq, frame))
        if session.connection is not None:
            session.connection.send_frame(frame)

    def dispatch_to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None:
        """Send one dispatch to every session of one account."""
        for session in self.sessions_of(user_id):
            self.dispatch(session, event, data)

    def dispatch_message_event(
        self,
        event: str,
        message: dict[str, Any],
        channel: Channel,
        *,
        author_id: str,
        mentioned_ids: set[str],
        ephemeral_to: str | None = None,
    ) -> None:
        """Send MESSAGE_CREATE/UPDATE/DELETE to every session allowed to see it."""
        for session in list(self.sessions.values()):
            if ephemeral_to is not None:
                if session.account.id == ephemeral_to and not session.is_bot:
                    self.dispatch(session, event, message)
                continue
            if not _receives_messages(session, channel):
                continue
            if event != "MESSAGE_DELETE" and _content_hidden(
                session, channel, author_id, mentioned_ids
            ):
                self.dispatch(session, event, blank_content(message))
                continue
            self.dispatch(session, event, message)

    def reconnect_sessions(self, user_id: str | None = None) -> int:
        """Send op 7 RECONNECT and close the sockets; return the number of sockets."""
        told = 0
        for connection in self._connections_of(user_id):
            connection.send({"op": RECONNECT, "d": None})
            connection.close(UNKNOWN_ERROR)
            told += 1
        return told

    def invalidate_sessions(self, user_id: str | None = None, *, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION; a non-resumable session is forgotten."""
        told = 0
        for connection in self._connections_of(user_id):
            connection.send({"op": INVALID_SESSION, "d": resumable})
            if not resumable and connection.session is not None:
                self.sessions.pop(connection.session.id, None)
                connection.session.connection = None
                connection.session = None
            told += 1
        return told

    def drop_connections(self, user_id: str | None = None, *, code: int = UNKNOWN_ERROR) -> int:
        """Close sockets without a word; clients resume after most codes."""
        dropped = 0
        for connection in self._connections_of(user_id):
            connection.close(code)
            dropped += 1
        return dropped

    def hold_sessions(self, user_id: str) -> None:
        """Leave the account's IDENTIFY and RESUME frames unanswered until released.

        Its clients stay connected but without a session, so they miss every dispatch.
        """
        self._held.setdefault(user_id, [])

    def release_sessions(self, user_id: str) -> int:
        """Process the held IDENTIFY and RESUME frames of an account and return their number."""
        held = self._held.pop(user_id, [])
        answered = 0
        for connection, op, data in held:
            if connection not in self.connections:
                continue
            if op == IDENTIFY:
                self._identify(connection, data)
            else:
                self._resume(connection, data)
            answered += 1
        return answered

    async def close_all(self) -> None:
        """Close every socket (going away), for shutdown."""
        self.closing = True
        for connection in list(self.connections):
            await connection.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.ws.close(code=1001), timeout=1)

    def _connections_of(self, user_id: str | None) -> list[GatewayConnection]:
        return [
            c
            for c in self.connections
            if c.session is not None and (user_id is None or c.session.account.id == user_id)
        ]

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway connection at ``/gateway`` (the query string is ignored)."""
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        if self.closing:
            await ws.close(code=1001)
            return ws
        connection = GatewayConnection(ws)
        self.connections.add(connection)
        interval = self._discord.settings.heartbeat_interval_ms
        connection.send({"op": HELLO, "d": {"heartbeat_interval": interval}})
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    break
                self._receive(connection, message.data)
        finally:
            self.connections.discard(connection)
            self._detach(connection, ws.close_code)
            await connection.stop()
        return ws

    def _detach(self, connection: GatewayConnection, close_code: int | None) -> None:
        session = connection.session
        if session is None or session.connection is not connection:
            return
        session.connection = None
        # Discord ends a session whose client closes with 1000 or 1001; others can RESUME.
        client_ended = close_code in (1000, 1001) and not connection.closed_by_server
        if client_ended and not self.closing:
            self.sessions.pop(session.id, None)
            _log.info("gateway session %s closed by its client", session.id)

    def _receive(self, connection: GatewayConnection, text: str) -> None:
        try:
            frame = json.loads(text)
            op = frame["op"]
        except (ValueError, KeyError, TypeError):
            connection.close(DECODE_ERROR)
            return
        data = frame.get("d")

        if op == HEARTBEAT:
            # Answer after a network-like delay. discord.py 2.7 notes the heartbeat's send
            # time only after the send completes, in another thread, so an instant loopback
            # ACK is measured against the previous heartbeat and logged as "Can't keep up".
            asyncio.get_running_loop().call_later(
                HEARTBEAT_ACK_DELAY, connection.send, {"op": HEARTBEAT_ACK}
            )
        elif op in (IDENTIFY, RESUME) and self._hold(connection, op, data or {}):
            return
        elif op == IDENTIFY:
            self._identify(connection, data or {})
        elif op == RESUME:
            self._resume(connection, data or {})
        elif connection.session is None:
            connection.close(NOT_AUTHENTICATED)
        elif op == REQUEST_GUILD_MEMBERS:
            self._send_member_chunk(connection.session, data or {})
        elif op in (PRESENCE_UPDATE, VOICE_STATE_UPDATE):
            return
        else:
            connection.close(UNKNOWN_OPCODE)

    def _hold(self, connection: GatewayConnection, op: int, data: dict[str, Any]) -> bool:
        """Park the frame when its account is held; return whether it was parked."""
        account = self._discord.account_for_gateway_token(str(data.get("token", "")))
        if account is None or account.id not in self._held:
            return False
        self._held[account.id].append((connection, op, data))
        _log.info(
            "gateway %s of user %s held back",
            "IDENTIFY" if op == IDENTIFY else "RESUME",
            account.id,
        )
        return True

    def _identify(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        if connection.session is not None:
            connection.close(ALREADY_AUTHENTICATED)
            return
        account = self._discord.account_for_gateway_token(str(data.get("token", "")))
        if account is None:
            connection.close(AUTHENTICATION_FAILED)
            return
        intents = data.get("intents")
        if account.bot and not isinstance(intents, int):
            connection.close(INVALID_INTENTS)
            return

        session = GatewaySession(id=secrets.token_hex(16), account=account, intents=intents)
        session.connection = connection
        connection.session = session
        self.sessions[session.id] = session
        _log.info("gateway session %s identified as user %s", session.id, account.id)

        world = self._discord.world
        resume_url = self._discord.gateway_url
        ready = ready_payload(account, world, session_id=session.id, resume_gateway_url=resume_url)
        self.dispatch(session, "READY", ready)
        self.dispatch(session, "GUILD_CREATE", guild_payload(world))

    def _resume(self, connection: GatewayConnection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id", "")))
        token_account = self._discord.account_for_gateway_token(str(data.get("token", "")))
        if session is None or token_account is None or token_account.id != session.account.id:
            connection.send({"op": INVALID_SESSION, "d": False})
            return
        last_seq = int(data.get("seq") or 0)
        oldest = session.sent[0][0] if session.sent else session.seq + 1
        if last_seq < oldest - 1:
            connection.send({"op": INVALID_SESSION, "d": False})
            self.sessions.pop(session.id, None)
            return

        if session.connection is not None and session.connection is not connection:
            session.connection.close(UNKNOWN_ERROR)
        session.connection = connection
        connection.session = session
        for seq, frame in session.sent:
            if seq > last_seq:
                connection.send_frame(frame)
        _log.info("gateway session %s resumed after seq %d", session.id, last_seq)
        self.dispatch(session, "RESUMED", {"_trace": ["sandbox-gateway"]})

    def _send_member_chunk(self, session: GatewaySession, data: dict[str, Any]) -> None:
        world = self._discord.world
        members = [member_payload(world.accounts[i], world.guild) for i in world.guild.member_ids]
        chunk: dict[str, Any] = {
            "guild_id": world.guild.id,
            "members": members,
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self.dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)


def _receives_messages(session: GatewaySession, channel: Channel) -> bool:
    """Apply the GUILD_MESSAGES / DIRECT_MESSAGES intents to bot sessions."""
    if not session.is_bot:
        return True
    needed = GUILD_MESSAGES_INTENT if channel.guild_id is not None else DIRECT_MESSAGES_INTENT
    return bool((session.intents or 0) & needed)


def _content_hidden(
    session: GatewaySession, channel: Channel, author_id: str, mentioned_ids: set[str]
) -> bool:
    """Apply the Message Content rule: bots without intent bit 15 read only their own,
    DM and mentioning messages."""
    if not session.is_bot or (session.intents or 0) & MESSAGE_CONTENT_INTENT:
        return False
    if channel.guild_id is None:
        return False
    own_id = session.account.id
    return author_id != own_id and own_id not in mentioned_ids
