"""Start, restart and stop the connected accounts' relays and dispatchers.

A started connection is a ``ConnectionRuntime``: the relay acting as the user, its pacer
and its dispatcher. A connection whose Discord session does not open is paused with the
reason, so its owner sees why it sends nothing, and the health probe opens the session
again until it works.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

import aiohttp

from midjourney.messages import ChannelMessage
from midjourney.relay import (
    AccessBlockedError,
    CaptchaRequiredError,
    RelayError,
    TokenRejectedError,
)
from pipeline.accounts import record_account_id
from pipeline.catch_up import catch_up_connections
from pipeline.completion import JobCompletion
from pipeline.connections import (
    ConnectionRuntime,
    RelayConfig,
    RelayFactory,
    TaskOwner,
    build_runtime,
    fetch_history_since,
)
from pipeline.ledger import JobLedger
from pipeline.recovery import RecoveredResults, reattach_jobs
from pipeline.tracker import ConnectionChannel, Tracker
from storage.models import ConnectionState, MidjourneyConnection

if TYPE_CHECKING:
    from midjau.settings import Settings
    from storage.crypto import TokenCipher

log = logging.getLogger(__name__)

# Start of the pause reason of a connection whose Discord session did not open; the
# health probe resumes it once the session opens (see pipeline.pause_reasons).
SESSION_FAILED_REASON = "The account's Discord session did not start"

# Pauses a connection: (connection id, reason) → awaitable.
ConnectionPauser = Callable[[int, str], Awaitable[None]]


class ConnectionRunner:
    """Keep a runtime per started connection: open its session, run and stop its dispatcher."""

    def __init__(
        self,
        settings: Settings,
        ledger: JobLedger,
        *,
        cipher: TokenCipher,
        relay_factory: RelayFactory,
        tracker: Tracker,
        results: RecoveredResults,
        completion: JobCompletion,
        pause: ConnectionPauser,
        own: TaskOwner,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.cipher = cipher
        self.relay_factory = relay_factory
        self.tracker = tracker
        self.results = results
        self.completion = completion
        self._pause = pause
        self._own = own
        self._runtimes: dict[int, ConnectionRuntime] = {}
        # Connections removed by their owner: a probe or a retry must not start them again.
        self._removed: set[int] = set()

    def __len__(self) -> int:
        return len(self._runtimes)

    def get(self, connection_id: int | None) -> ConnectionRuntime | None:
        """Return the runtime of a started connection, or None."""
        return self._runtimes.get(connection_id) if connection_id is not None else None

    def register(self, connection: MidjourneyConnection) -> None:
        """Tell the tracker which channel and account the connection's replies come from."""
        # SQLite may give a new connection the id of a removed one.
        self._removed.discard(connection.id)
        self.tracker.register_connection(connection.id, _channel_of(connection))

    async def start_all(self, connections: Iterable[MidjourneyConnection]) -> None:
        """Start each connection; a paused one opens its session but sends nothing."""
        for connection in connections:
            paused = connection.state == ConnectionState.PAUSED
            await self.start(connection, paused=paused)

    async def start(
        self, connection: MidjourneyConnection, *, paused: bool = False
    ) -> ConnectionRuntime | None:
        """Open a connection's session and run its dispatcher, or hold it when ``paused``.

        Return None when the session did not open. A held connection is not retried here,
        because its health probe tries again.
        """
        if connection.id in self._removed:
            return None
        relay = self.relay_factory(
            RelayConfig(
                connection_id=connection.id,
                token=self.cipher.decrypt(connection.token_ciphertext),
                api_base=self.settings.discord.api_base,
                gateway_url=self.settings.discord.gateway_url,
                guild_id=connection.guild_id,
                channel_id=connection.channel_id,
                on_event=self.tracker.handle,
            )
        )
        relay.on_reidentified = lambda: self.catch_up(connection.id)
        runtime = build_runtime(
            self.settings,
            connection,
            relay,
            self.ledger,
            lambda reason: self._pause(connection.id, reason),
            self.completion,
        )
        try:
            await relay.start()
        except (TokenRejectedError, AccessBlockedError, CaptchaRequiredError) as error:
            await self._pause(connection.id, error.user_message)
            return None
        except (RelayError, aiohttp.ClientError, OSError) as error:
            await self._start_failed(connection, error, paused=paused)
            return None
        if connection.id in self._removed:
            await relay.close()  # removed while its session opened
            return None
        self._runtimes[connection.id] = runtime
        if paused:
            runtime.dispatcher.pause()  # before re-attaching, so upscale presses wait too
        await self._remember_account(connection, relay.user_id)
        await reattach_jobs(runtime, self.tracker, self.results)
        if not paused:
            self.run_dispatcher(runtime)
        return runtime

    async def restart(self, connection: MidjourneyConnection) -> None:
        """Stop the connection's runtime, if it runs, and start it with its stored details."""
        running = self._runtimes.pop(connection.id, None)
        if running is not None:
            await running.stop()
        await self.start(connection)

    async def remove(self, connection_id: int) -> None:
        """Stop a connection for good: its runtime, a pending restart, and any later start."""
        self._removed.add(connection_id)
        runtime = self._runtimes.pop(connection_id, None)
        if runtime is not None:
            await runtime.stop()

    def apply_pace(self, connection: MidjourneyConnection) -> None:
        """Give a running connection's pacer and dispatcher its stored gap and daily cap."""
        runtime = self.get(connection.id)
        if runtime is None:
            return
        pacing = self.settings.pacing
        gap = connection.min_gap_seconds
        runtime.pacer.min_gap_seconds = pacing.min_gap_seconds if gap is None else gap
        runtime.dispatcher.daily_cap = connection.daily_cap or pacing.daily_cap
        runtime.dispatcher.wake()

    def run_dispatcher(self, runtime: ConnectionRuntime) -> None:
        """Run a runtime's dispatcher loop as a task the engine owns."""
        runtime.task = self._own(
            runtime.dispatcher.run(), f"dispatcher of connection {runtime.connection_id}"
        )

    async def stop_all(self) -> None:
        """Stop every runtime, the last started first."""
        runtimes = list(reversed(self._runtimes.values()))
        # Pause them all first, so their dispatchers end together rather than one by one.
        for runtime in runtimes:
            runtime.dispatcher.pause()
        for runtime in runtimes:
            await runtime.stop()
        self._runtimes.clear()

    def wake(self, connection_id: int | None) -> None:
        """Let the connection's dispatcher look for work now."""
        runtime = self.get(connection_id)
        if runtime is not None:
            runtime.dispatcher.wake()

    def back_off(self, connection_id: int, reason: str) -> None:
        """Hold a connection's sends for the queue-full back-off."""
        runtime = self.get(connection_id)
        if runtime is not None:
            runtime.dispatcher.back_off(self.settings.pacing.queue_full_backoff_seconds, reason)

    async def catch_up(self, connection_id: int | None = None) -> None:
        """Match the replies a gateway missed, from channel history (all connections by default)."""
        runtimes = [
            runtime
            for runtime in list(self._runtimes.values())
            if connection_id is None or runtime.connection_id == connection_id
        ]
        await catch_up_connections(runtimes, self.tracker)

    async def history_since(self, connection_id: int, since: datetime) -> list[ChannelMessage]:
        """Return the connection's channel messages since ``since``; none when it is not started."""
        runtime = self._runtimes.get(connection_id)
        if runtime is None:
            return []
        return await fetch_history_since(runtime.relay, since)

    async def _start_failed(
        self, connection: MidjourneyConnection, error: Exception, *, paused: bool
    ) -> None:
        if paused:
            log.info("connection %s: the Discord session did not open (%s)", connection.id, error)
            return
        log.warning("connection %s: the Discord session did not start (%s)", connection.id, error)
        # Paused, not retried here: its owner sees why nothing runs, and the probe retries.
        await self._pause(
            connection.id, f"{SESSION_FAILED_REASON} ({str(error) or type(error).__name__})"
        )

    async def _remember_account(
        self, connection: MidjourneyConnection, user_id: str | None
    ) -> None:
        account_id = user_id or connection.discord_account_id
        self.tracker.register_connection(connection.id, _channel_of(connection, account_id))
        if account_id != connection.discord_account_id:
            async with self.ledger.transaction() as session:
                await record_account_id(session, connection.id, account_id)


def _channel_of(connection: MidjourneyConnection, account_id: str = "") -> ConnectionChannel:
    return ConnectionChannel(
        connection.channel_id,
        account_id or connection.discord_account_id or "",
        appeal_soft_moderation=connection.appeal_soft_moderation,
    )
