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
from midjourney.relay import (
    AccessBlockedError,
    CaptchaRequiredError,
    RelayError,
    TokenRejectedError,
)
from pipeline.accounts import (
    first_active_connection_id,
    get_or_create_user,
    list_startable_connections,
    mark_connection_active,
    record_account_id,
)
from pipeline.batches import insert_batch, list_job_ids, list_open_batch_ids
from pipeline.catch_up import catch_up_connections
from pipeline.completion import JobCompletion
from pipeline.connections import (
    ConnectionRuntime,
    RelayConfig,
    RelayFactory,
    build_runtime,
    default_relay_factory,
    fetch_history_since,
)
from pipeline.fetcher import Fetcher
from pipeline.finishing import BatchFinisher
from pipeline.health import ConnectionHealth, ConnectionListener, HealthMonitor
from pipeline.intake import SheetIntake, load_sheet
from pipeline.ledger import JobChange, JobLedger
from pipeline.progress import BatchListener, BatchOptions, BatchProgress, BatchResult
from pipeline.recovery import reattach_jobs
from pipeline.retries import (
    FinishedBatch,
    insert_retry_batch,
    list_finished_batches,
    load_finished_batch,
    retryable_jobs,
)
from pipeline.tracker import ConnectionChannel, JobIndex, Tracker
from pipeline.tracker.timeouts import STAGED_STATUSES, TimeoutSweeper
from storage.models import (
    IN_FLIGHT_JOB_STATUSES,
    Batch,
    BatchOrigin,
    BatchStatus,
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

log = logging.getLogger(__name__)

# Seconds before starting a connection again whose Discord session failed to open.
RELAY_RETRY_SECONDS = 30
NO_CONNECTION_MESSAGE = (
    "Connect a Midjourney account first: MidJAu sends prompts through your own "
    "Discord account, so it needs that connection to run a batch."
)


class EngineError(Exception):
    """A request the engine cannot carry out; ``str(error)`` is safe to show the user."""


class NoConnectionError(EngineError):
    """The user has no active Midjourney connection to run a batch on."""


class Engine:
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
        self._connections: dict[int, ConnectionRuntime] = {}
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
        self.ledger.subscribe(self._on_job_changed)
        self.health = HealthMonitor(
            settings,
            self.ledger,
            runtime=self._runtime,
            start=self._start_connection,
            run=self._run_dispatcher,
            own=self._own,
        )

    # Lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start work: re-attach jobs in flight, start each active connection, sweeper, finisher.

        Jobs that were in flight when the last process stopped keep their nonce and message
        ids. The channel history since they were sent is read and matched before a
        connection's dispatcher sends any new prompt.
        """
        if self._started:
            return
        self._started = True
        async with self.db.sessions() as session:
            connections = await list_startable_connections(session)
            in_flight = list(
                await session.scalars(select(Job).where(Job.status.in_(STAGED_STATUSES)))
            )
        for connection in connections:
            self.tracker.register_connection(connection.id, _channel_of(connection))
        self.tracker.track(in_flight)
        self._tracking = True
        if in_flight:
            log.info("re-attaching %d jobs in flight", len(in_flight))

        paused = [c.id for c in connections if c.state == ConnectionState.PAUSED]
        for connection in connections:
            await self._start_connection(connection, paused=connection.id in paused)
        self.health.watch(paused)
        self._own(self.finisher.run(), "batch finisher")
        # Before giving up on a job's upscales, the sweep presses again those lost unsent.
        self.sweeper.press_again = self.fetcher.press_unanswered
        self._own(self.sweeper.run(), "timeout sweeper")
        log.info("engine started with %d connection(s)", len(self._connections))

    async def stop(self) -> None:
        """Stop everything the engine started, in reverse order."""
        for task in reversed(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.health.close()
        await self.fetcher.close()
        for runtime in reversed(list(self._connections.values())):
            await runtime.stop()
        self._connections.clear()
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
        """Store a Midjourney connection (token encrypted) and start it if the engine runs.

        Connecting the same channel again replaces that connection's token, plan and label
        and makes it active again, so one Discord account never gets two dispatchers (which
        would double its jobs in flight and its pace).
        """
        async with self.ledger.transaction() as session:
            connection = await session.scalar(
                select(MidjourneyConnection).where(
                    MidjourneyConnection.user_id == user_id,
                    MidjourneyConnection.guild_id == guild_id,
                    MidjourneyConnection.channel_id == channel_id,
                )
            )
            replaced = connection is not None
            if connection is None:
                connection = MidjourneyConnection(
                    user_id=user_id, guild_id=guild_id, channel_id=channel_id
                )
                session.add(connection)
            connection.label = label or connection.label or ""
            connection.plan = plan
            connection.token_ciphertext = self.cipher.encrypt(token)
            was_paused = connection.state == ConnectionState.PAUSED
            mark_connection_active(connection)
            await session.flush()
        verb = "replaced" if replaced else "added"
        log.info("connection %s %s for user %s (plan %s)", connection.id, verb, user_id, plan)
        self.tracker.register_connection(connection.id, _channel_of(connection))
        if self._started:
            running = self._connections.pop(connection.id, None)
            if running is not None:
                await running.stop()
            await self._start_connection(connection)
        await self.health.reconnected(connection.id, was_paused)
        return connection.id

    async def connection_for(self, user_id: int) -> int | None:
        """Return the id of the user's first active connection, or None."""
        async with self.db.sessions() as session:
            return await first_active_connection_id(session, user_id)

    # Batches ------------------------------------------------------------------------------------

    async def create_batch(
        self,
        user_id: int,
        intake: SheetIntake,
        options: BatchOptions,
        *,
        origin: BatchOrigin,
        connection_id: int | None = None,
        discord_channel_id: str | None = None,
        confirmed: bool = True,
    ) -> int:
        """Store a batch with its rows and jobs; unless ``confirmed`` is False, queue it now.

        Raise NoConnectionError when the user has no active Midjourney connection.
        """
        connection_id = connection_id or await self.connection_for(user_id)
        if connection_id is None:
            raise NoConnectionError(NO_CONNECTION_MESSAGE)
        async with self.ledger.transaction() as session:
            batch = await insert_batch(
                session,
                user_id=user_id,
                intake=intake,
                options=options,
                origin=origin,
                connection_id=connection_id,
                discord_channel_id=discord_channel_id,
                confirmed=confirmed,
            )
            batch_id = batch.id
        log.info("batch %s created: %d rows, %d jobs", batch_id, len(intake.rows), intake.job_count)
        self._batch_queued(batch_id, connection_id)
        return batch_id

    async def confirm_batch(self, batch_id: int) -> None:
        """Queue a batch that was waiting for the user's confirmation."""
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            if batch.status != BatchStatus.AWAITING_CONFIRMATION:
                return
            batch.status = BatchStatus.QUEUED
            connection_id = batch.connection_id
        log.info("batch %s confirmed", batch_id)
        self._batch_queued(batch_id, connection_id)

    async def cancel_batch(self, batch_id: int, user_id: int) -> bool:
        """Cancel a user's batch; return False when it is not theirs or already finished.

        Queued jobs, and variations not yet pressed, are cancelled at once. Jobs and
        variations Midjourney is already rendering finish, and the batch is packaged with
        whatever is done.
        """
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None or batch.user_id != user_id or batch.finished_at is not None:
                return False
            if batch.status in (BatchStatus.CANCELLED, BatchStatus.PACKAGING):
                return False
            batch.status = BatchStatus.CANCELLED
            queued = await list_job_ids(session, batch_id, [JobStatus.QUEUED])
            past_grid = await list_job_ids(session, batch_id, [JobStatus.UPSCALING])
        await self.ledger.update_many(
            queued,
            when=[JobStatus.QUEUED],
            status=JobStatus.CANCELLED,
            failure_message="The batch was cancelled before this job was sent.",
        )
        for job_id in past_grid:
            await self.completion.cancel_unsent(job_id)
        log.info("batch %s cancelled; %d queued jobs cancelled", batch_id, len(queued))
        self.finisher.mark_changed(batch_id)
        return True

    async def retry_failed(
        self,
        batch_id: int,
        user_id: int,
        *,
        origin: BatchOrigin | None = None,
        discord_channel_id: str | None = None,
    ) -> int | None:
        """Queue a new batch of a finished batch's failed and cancelled jobs; return its id.

        The new batch has the same owner, connection and options, and by default the same
        origin and Discord channel. Return None when the batch is not the user's, has not
        finished, or has no failed or cancelled job outside invalid rows. Raise
        NoConnectionError when the batch's connection is gone and the user has no other.
        """
        async with self.ledger.transaction() as session:
            source = await load_finished_batch(session, batch_id, user_id)
            if source is None or not any(retryable_jobs(row) for row in source.rows):
                return None
            connection_id = source.connection_id or await first_active_connection_id(
                session, user_id
            )
            if connection_id is None:
                raise NoConnectionError(NO_CONNECTION_MESSAGE)
            retry = await insert_retry_batch(
                session,
                source,
                connection_id=connection_id,
                origin=origin or source.origin,
                discord_channel_id=discord_channel_id or source.discord_channel_id,
            )
        if retry is None:
            return None
        log.info(
            "batch %s created to retry batch %s: %d rows, %d jobs",
            retry.batch_id,
            batch_id,
            retry.rows,
            retry.jobs,
        )
        self._batch_queued(retry.batch_id, retry.connection_id)
        return retry.batch_id

    async def finished_batches(self, user_id: int, limit: int = 25) -> list[FinishedBatch]:
        """Return the user's most recently finished batches, newest first."""
        async with self.db.sessions() as session:
            return await list_finished_batches(session, user_id, limit=limit)

    async def progress(self, batch_id: int) -> BatchProgress:
        """Return a batch's job counts and time estimate; raise LookupError if unknown."""
        return await self.finisher.progress(batch_id)

    async def active_batches(self, user_id: int) -> list[BatchProgress]:
        """Return the progress of each of the user's batches that has not finished."""
        async with self.db.sessions() as session:
            batch_ids = await list_open_batch_ids(session, user_id)
        return [await self.finisher.progress(batch_id) for batch_id in batch_ids]

    async def set_progress_message(self, batch_id: int, message_id: str) -> None:
        """Remember the Discord message that shows the batch's progress."""
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            batch.progress_message_id = message_id

    async def wait_finished(self, batch_id: int) -> BatchResult:
        """Wait until a batch is packaged and return its result."""
        return await self.finisher.wait_finished(batch_id)

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
        runtimes = [
            runtime
            for runtime in list(self._connections.values())
            if connection_id is None or runtime.connection_id == connection_id
        ]
        await catch_up_connections(runtimes, self.tracker)

    # The tracker's ConnectionControl ----------------------------------------------------------

    def back_off(self, connection_id: int, reason: str) -> None:
        """Hold a connection's sends for the queue-full back-off."""
        runtime = self._connections.get(connection_id)
        if runtime is not None:
            runtime.dispatcher.back_off(self.settings.pacing.queue_full_backoff_seconds, reason)

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
        changed = await self.health.set_choices(
            connection_id,
            user_id,
            relax_when_fast_used_up=relax_when_fast_used_up,
            appeal_soft_moderation=appeal_soft_moderation,
        )
        if changed and appeal_soft_moderation is not None:
            self.tracker.set_appeal_choice(connection_id, appeal_soft_moderation)
        return changed

    # Internals ------------------------------------------------------------------------------------

    def _runtime(self, connection_id: int | None) -> ConnectionRuntime | None:
        return self._connections.get(connection_id) if connection_id is not None else None

    async def _start_connection(
        self, connection: MidjourneyConnection, *, paused: bool = False
    ) -> ConnectionRuntime | None:
        """Open a connection's session and run its dispatcher, or hold it when ``paused``.

        Return None when the session did not open. A held connection is not retried here,
        because its health probe tries again.
        """
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
            lambda reason: self.pause(connection.id, reason),
            self.completion,
        )
        try:
            await relay.start()
        except (TokenRejectedError, AccessBlockedError, CaptchaRequiredError) as error:
            await self.pause(connection.id, error.user_message)
            return None
        except (RelayError, aiohttp.ClientError, OSError) as error:
            if paused:
                log.info(
                    "connection %s: the Discord session did not open (%s)", connection.id, error
                )
                return None
            log.warning(
                "connection %s: the Discord session did not start (%s); retrying in %d s",
                connection.id,
                error,
                RELAY_RETRY_SECONDS,
            )
            self._own(self._retry_start(connection), f"restart of connection {connection.id}")
            return None
        self._connections[connection.id] = runtime
        if paused:
            runtime.dispatcher.pause()  # before re-attaching, so upscale presses wait too
        await self._remember_account(connection, relay.user_id)
        await reattach_jobs(runtime, self.tracker, self.fetcher)
        if not paused:
            self._run_dispatcher(runtime)
        return runtime

    def _run_dispatcher(self, runtime: ConnectionRuntime) -> None:
        runtime.task = self._own(
            runtime.dispatcher.run(), f"dispatcher of connection {runtime.connection_id}"
        )

    async def _retry_start(self, connection: MidjourneyConnection) -> None:
        await asyncio.sleep(RELAY_RETRY_SECONDS)
        await self._start_connection(connection)

    async def _remember_account(
        self, connection: MidjourneyConnection, user_id: str | None
    ) -> None:
        account_id = user_id or connection.discord_account_id
        self.tracker.register_connection(
            connection.id,
            ConnectionChannel(
                connection.channel_id,
                account_id,
                appeal_soft_moderation=connection.appeal_soft_moderation,
            ),
        )
        if account_id != connection.discord_account_id:
            async with self.ledger.transaction() as session:
                await record_account_id(session, connection.id, account_id)

    async def _history_since(self, connection_id: int, since: datetime) -> list[ChannelMessage]:
        runtime = self._connections.get(connection_id)
        if runtime is None:
            return []
        return await fetch_history_since(runtime.relay, since)

    def _batch_queued(self, batch_id: int, connection_id: int | None) -> None:
        self.finisher.mark_changed(batch_id)
        runtime = self._runtime(connection_id)
        if runtime is not None:
            runtime.dispatcher.wake()

    def _on_job_changed(self, change: JobChange) -> None:
        job = change.job
        self.finisher.mark_changed(job.batch_id)
        freed = change.old_status in IN_FLIGHT_JOB_STATUSES and not job.status.is_in_flight
        queued = change.status_changed and job.status == JobStatus.QUEUED
        # A job past its grid changes when a variation is queued or ends its render; either
        # may give the dispatcher work.
        past_grid = JobStatus.UPSCALING in (job.status, change.old_status)
        if freed or queued or past_grid:
            runtime = self._runtime(job.connection_id)
            if runtime is not None:
                runtime.dispatcher.wake()

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


def _channel_of(connection: MidjourneyConnection) -> ConnectionChannel:
    return ConnectionChannel(
        connection.channel_id,
        connection.discord_account_id or "",
        appeal_soft_moderation=connection.appeal_soft_moderation,
    )
