"""The batch engine: the one object the Discord bot, the web site and the CLI talk to.

It owns the dispatchers (one per connected Midjourney account), the tracker that follows
Midjourney's replies, the fetcher that stores results, the timeout sweep and the batch
finisher, and starts and stops them together.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import select

from midjourney.messages import ChannelEvent, ChannelMessage
from pipeline.accounts import (
    find_user_connection,
    get_or_create_user,
    hold_restricted_connections,
    is_restricted,
    list_startable_connections,
    mark_connection_active,
)
from pipeline.batch_requests import (
    BatchRequests,
    EngineError,
    NoConnectionError,
    ProcessingRestrictedError,
)
from pipeline.completion import JobCompletion
from pipeline.connection_checks import check_connection, ensure_account_is_free
from pipeline.connection_edits import ConnectionEdits, ConnectionPace
from pipeline.connection_runner import ConnectionRunner
from pipeline.connections import ConnectionRuntime, RelayFactory, default_relay_factory
from pipeline.fetcher import Fetcher
from pipeline.finishing import BatchFinisher
from pipeline.health import ConnectionChoices, ConnectionHealth, ConnectionListener, HealthMonitor
from pipeline.intake import SheetIntake, load_sheet
from pipeline.ledger import JobChange, JobLedger
from pipeline.progress import BatchListener
from pipeline.tracker import JobIndex, Tracker
from pipeline.tracker.timeouts import STAGED_STATUSES, TimeoutSweeper
from storage.models import (
    IN_FLIGHT_JOB_STATUSES,
    ConnectionState,
    Job,
    JobStatus,
    MidjourneyConnection,
)

if TYPE_CHECKING:
    from midjau.settings import Settings
    from storage.blobs import LocalBlobStore
    from storage.crypto import TokenCipher
    from storage.db import Database

__all__ = ["Engine", "EngineError", "NoConnectionError", "ProcessingRestrictedError"]

log = logging.getLogger(__name__)

CONNECT_RESTRICTED_MESSAGE = (
    "Processing is restricted for your account; lift it on the Data page to connect "
    "a Discord account."
)


class Engine(BatchRequests):
    """Run batches of prompts through the connected Midjourney accounts."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: LocalBlobStore,
        http: aiohttp.ClientSession,
        cipher: TokenCipher,
        relay_factory: RelayFactory | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.http = http
        self.cipher = cipher
        self.relay_factory = relay_factory or default_relay_factory(http)

        self.ledger = JobLedger(db)
        self.completion = JobCompletion(self.ledger)
        self._tasks: list[asyncio.Task[None]] = []
        self._started = False
        # True once jobs in flight are tracked again; see handle_channel_event.
        self._tracking = False

        self.finisher = BatchFinisher(
            ledger=self.ledger,
            blobs=blobs,
            outputs_dir=settings.data_dir / "outputs",
            part_limit_bytes=settings.discord.upload_limit_bytes,
        )
        index = JobIndex()
        self.fetcher = Fetcher(
            ledger=self.ledger,
            blobs=blobs,
            http=http,
            index=index,
            connections=self._runtime,
            completion=self.completion,
        )
        self.tracker = Tracker(
            self.ledger,
            results=self.fetcher,
            control=self,
            index=index,
            completion=self.completion,
            deleted_progress_grace=settings.timeouts.deleted_progress_grace,
            history=self._history_since,
            connections=self._runtime,
        )
        self.sweeper = TimeoutSweeper(
            ledger=self.ledger,
            tracker=self.tracker,
            timeouts=settings.timeouts,
            history=self._history_since,
            give_up_after_grid=self.completion.give_up_after_grid,
        )
        self.connections = ConnectionRunner(
            settings,
            self.ledger,
            cipher=cipher,
            relay_factory=self.relay_factory,
            tracker=self.tracker,
            results=self.fetcher,
            completion=self.completion,
            pause=self.pause,
            own=self._own,
        )
        self.finisher.hold_seconds = self._hold_seconds
        self.ledger.subscribe(self._on_job_changed)
        self.health = HealthMonitor(
            settings,
            self.ledger,
            connections=self.connections,
            own=self._own,
        )
        self.edits = ConnectionEdits(
            self.ledger,
            connections=self.connections,
            health=self.health,
            completion=self.completion,
            finisher=self.finisher,
        )

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start work: re-attach jobs in flight, start each active connection, sweeper, finisher.

        Jobs that were in flight when the last process stopped keep their nonce and message
        ids. The channel history since they were sent is read and matched before a
        connection's dispatcher sends any new prompt. The connections of an owner who
        restricted processing open no Discord session until the owner lifts the restriction.
        """
        if self._started:
            return
        self._started = True
        async with self.ledger.transaction() as session:
            connections = await list_startable_connections(session)
            restricted = await hold_restricted_connections(session, connections)
            in_flight = list(
                await session.scalars(select(Job).where(Job.status.in_(STAGED_STATUSES)))
            )
        for connection in connections:
            self.connections.register(connection)
        self.tracker.track(in_flight)
        self._tracking = True
        if in_flight:
            log.info("re-attaching %d jobs in flight", len(in_flight))
        if restricted:
            log.info(
                "%d connection(s) left closed: their owners restricted processing", len(restricted)
            )

        startable = [connection for connection in connections if connection not in restricted]
        await self.connections.start_all(startable)
        self.health.watch([c.id for c in startable if c.state == ConnectionState.PAUSED])
        self._own(self.finisher.run(), "batch finisher")
        # Before giving up on a job's upscales, the sweep presses again those lost unsent.
        self.sweeper.press_again = self.fetcher.press_unanswered
        self._own(self.sweeper.run(), "timeout sweeper")
        log.info("engine started with %d connection(s)", len(self.connections))

    async def stop(self) -> None:
        """Stop everything the engine started, in reverse order."""
        for task in reversed(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.health.close()
        await self.fetcher.close()
        await self.connections.stop_all()
        await self.tracker.close()
        self._started = False
        self._tracking = False
        log.info("engine stopped")

    def add_listener(self, listener: BatchListener) -> None:
        """Send batch progress and results to ``listener`` (the bot, the demo's terminal view)."""
        self.finisher.listeners.append(listener)

    # Users and connections ---------------------------------------------------------------------

    async def read_sheet(self, data: bytes, filename: str, sheet: str | None = None) -> SheetIntake:
        """Read and check a sheet off the event loop; raise IntakeError when it cannot be read."""
        return await load_sheet(data, filename, settings=self.settings.intake, sheet=sheet)

    async def ensure_user(self, discord_user_id: str, display_name: str = "") -> int:
        """Return the id of the user with this Discord id, creating the user when new."""
        async with self.ledger.transaction() as session:
            return await get_or_create_user(session, discord_user_id, display_name)

    async def add_connection(
        self,
        user_id: int,
        *,
        token: str,
        guild_id: str,
        channel_id: str,
        plan: str,
        label: str = "",
    ) -> int:
        """Check the account with Discord, store the connection (token encrypted), start it.

        Connecting the same channel again replaces that connection's token, plan and label
        and makes it active again, so one Discord account never gets two dispatchers (which
        would double its jobs in flight and its pace). Raise ProcessingRestrictedError while
        the user restricts processing. Raise ConnectionCheckError when Discord rejects the
        token or channel, or when another user connected that account in that channel.
        Neither error stores anything.
        """
        async with self.ledger.db.sessions() as session:
            if await is_restricted(session, user_id):
                raise ProcessingRestrictedError(CONNECT_RESTRICTED_MESSAGE)
        account = await check_connection(
            self.relay_factory,
            self.settings.discord,
            token=token,
            guild_id=guild_id,
            channel_id=channel_id,
        )
        async with self.ledger.transaction() as session:
            await ensure_account_is_free(session, account, user_id, guild_id, channel_id)
            connection = await find_user_connection(session, user_id, guild_id, channel_id)
            replaced = connection is not None
            if connection is None:
                connection = MidjourneyConnection(
                    user_id=user_id, guild_id=guild_id, channel_id=channel_id
                )
                session.add(connection)
            connection.label = label or connection.label or ""
            connection.plan = plan
            connection.token_ciphertext = self.cipher.encrypt(token)
            connection.discord_account_id = account.account_id
            was_paused = connection.state == ConnectionState.PAUSED
            mark_connection_active(connection)
            await session.flush()
        verb = "replaced" if replaced else "added"
        log.info("connection %s %s for user %s (plan %s)", connection.id, verb, user_id, plan)
        self.connections.register(connection)
        if self._started:
            await self.connections.restart(connection)
        await self.health.reconnected(connection.id, was_paused)
        return connection.id

    async def set_connection_pace(
        self,
        connection_id: int,
        user_id: int,
        *,
        daily_cap: int | None,
        min_gap_seconds: float | None,
    ) -> bool:
        """Store a connection's daily cap and minimum gap (None: the default) and apply them.

        Return False when the connection is not the user's; raise ValueError for a value
        outside ``pipeline.connection_edits`` ranges.
        """
        pace = ConnectionPace(daily_cap=daily_cap, min_gap_seconds=min_gap_seconds)
        return await self.edits.set_pace(connection_id, user_id, pace)

    async def remove_connection(self, connection_id: int, user_id: int) -> bool:
        """Stop a user's connection and delete it with its token; False when not theirs.

        Its unfinished jobs fail with the reason, and its batches keep their rows.
        """
        return await self.edits.remove(connection_id, user_id)

    async def handle_channel_event(self, event: ChannelEvent) -> None:
        """Take an event from the bot's gateway (the watcher cog) and track the job it concerns.

        Events that arrive before start() has re-attached the jobs in flight are dropped
        unseen: they would match no job, yet be remembered as seen, and the history
        catch-up at start would then skip them as repeats.
        """
        if not self._tracking:
            log.debug(
                "engine not tracking yet; %s left to the history catch-up", type(event).__name__
            )
            return
        await self.tracker.handle(event)

    async def catch_up(self, connection_id: int | None = None) -> None:
        """Match the replies a gateway missed, from channel history (all connections by default).

        The bot calls this after its gateway identified anew, and each relay after the
        user's session did; a resumed session needs none, because Discord replays to it.
        """
        if not self._tracking:
            return
        await self.connections.catch_up(connection_id)

    # The tracker's ConnectionControl ----------------------------------------------------------

    def back_off(self, connection_id: int, reason: str) -> None:
        """Hold a connection's sends for the queue-full back-off."""
        self.connections.back_off(connection_id, reason)

    async def pause(self, connection_id: int, reason: str, *, link: str = "") -> None:
        """Stop sending on a connection until it works again; record why and tell its owner.

        ``link`` opens the Midjourney message the owner must acknowledge, if there is one.
        """
        await self.health.pause(connection_id, reason, link=link)

    # Connection health ------------------------------------------------------------------------

    def add_connection_listener(self, listener: ConnectionListener) -> None:
        """Tell ``listener`` (the bot) when a connection pauses or resumes."""
        self.health.listeners.append(listener)

    async def connection_health(self, user_id: int) -> list[ConnectionHealth]:
        """Return the health of each of the user's connections."""
        return await self.health.connection_health(user_id)

    async def health_summary(self) -> dict[str, int]:
        """Return how many connections work and how many are paused."""
        return await self.health.summary()

    async def resume_connection(self, connection_id: int, user_id: int) -> bool:
        """Resume a user's paused connection now; return False when it is not theirs."""
        return await self.health.resume(connection_id, user_id)

    async def set_connection_choices(
        self,
        connection_id: int,
        user_id: int,
        *,
        relax_when_fast_used_up: bool | None = None,
        appeal_soft_moderation: bool | None = None,
    ) -> bool:
        """Store the owner's choices for used-up fast hours and soft moderation.

        Return False when the connection is not the user's.
        """
        choices = ConnectionChoices(
            relax_when_fast_used_up=relax_when_fast_used_up,
            appeal_soft_moderation=appeal_soft_moderation,
        )
        changed = await self.health.set_choices(connection_id, user_id, choices)
        if changed and appeal_soft_moderation is not None:
            self.tracker.set_appeal_choice(connection_id, appeal_soft_moderation)
        return changed

    # Internals ------------------------------------------------------------------------------------

    # The fetcher and the tracker read the runtimes through these, because the runner that
    # owns them is built after the tracker it feeds.
    def _runtime(self, connection_id: int | None) -> ConnectionRuntime | None:
        return self.connections.get(connection_id)

    async def _history_since(self, connection_id: int, since: datetime) -> list[ChannelMessage]:
        return await self.connections.history_since(connection_id, since)

    def _hold_seconds(self, connection_id: int | None) -> float:
        runtime = self.connections.get(connection_id)
        return runtime.dispatcher.hold_seconds() if runtime is not None else 0.0

    def _on_job_changed(self, change: JobChange) -> None:
        job = change.job
        self.finisher.mark_changed(job.batch_id)
        freed = change.old_status in IN_FLIGHT_JOB_STATUSES and not job.status.is_in_flight
        queued = change.status_changed and job.status == JobStatus.QUEUED
        # A job past its grid changes when a variation is queued or ends its render; either
        # may give the dispatcher work.
        past_grid = JobStatus.UPSCALING in (job.status, change.old_status)
        if freed or queued or past_grid:
            self.connections.wake(job.connection_id)

    def _own(self, work: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(_logged(work, name), name=name)
        self._tasks.append(task)
        return task


async def _logged(work: Any, name: str) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s stopped with an error", name)
