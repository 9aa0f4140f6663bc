"""The health of each Midjourney connection: pause, check, resume, and tell the owner.

A connection is paused when Discord or Midjourney stops its account: a pending moderation
message, a CAPTCHA, an ended subscription, a rejected token (401), a blocked account (403)
or used-up fast hours. While paused it sends no prompt and presses no button, and jobs in
flight keep their state. Every ``resume_probe_seconds`` a probe checks the account: an
authenticated ``GET /users/@me`` first, then, unless the cause was the token, one queued
job is let through. When Midjourney starts that job the connection resumes; when the same
answer comes back it stays paused, quietly. The owner's Resume resumes at once.

Used-up fast hours do not pause a connection whose owner chose relax mode on a plan that
has it: its fast jobs are moved to relax and the batch goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
from sqlalchemy import select

from midjourney.relay import RelayError
from pipeline.accounts import (
    count_connections_by_state,
    list_open_batch_channels,
    list_user_connections,
    mark_connection_active,
    mark_connection_paused,
)
from pipeline.connections import ConnectionRuntime, slot_limits
from pipeline.dispatcher import speed_changes
from pipeline.ledger import JobChange, JobLedger
from pipeline.pause_reasons import PauseCause, classify_pause, describe_pause, with_guild
from pipeline.variations import VariationStatus, renders_of
from storage.models import (
    ConnectionState,
    FailureCategory,
    Job,
    JobStatus,
    MidjourneyConnection,
    utcnow,
)

if TYPE_CHECKING:
    from midjau.settings import Settings

log = logging.getLogger(__name__)

RELAX = "relax"
# Statuses that show Midjourney took a job: it answered with more than an account notice.
_TAKEN_STATUSES = frozenset({JobStatus.WAITING, JobStatus.RUNNING, JobStatus.UPSCALING})
_TAKEN_FAILURES = frozenset(
    {FailureCategory.INVALID, FailureCategory.MODERATED, FailureCategory.FILTERED}
)
_TAKEN_RENDER_STATUSES = frozenset(
    {VariationStatus.WAITING, VariationStatus.RUNNING, VariationStatus.RENDERED}
)


@dataclass(frozen=True, slots=True)
class ConnectionHealth:
    """One connection as its owner sees it: working or paused, why, and their choices."""

    connection_id: int
    user_id: int
    label: str
    guild_id: str
    channel_id: str
    plan: str
    working: bool
    reason: str
    advice: str
    link: str
    paused_at: datetime | None
    speed_override: str
    relax_when_fast_used_up: bool
    appeal_soft_moderation: bool
    learned_job_limit: int | None


class ConnectionListener(Protocol):
    """Hears when a connection pauses or resumes (the Discord bot tells the owner)."""

    async def on_connection_paused(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Tell the owner, in the channels of their open batches on it (or by DM)."""

    async def on_connection_resumed(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Tell the owner the connection works again."""


RuntimeLookup = Callable[[int | None], ConnectionRuntime | None]
ConnectionStarter = Callable[..., Awaitable[ConnectionRuntime | None]]
TaskOwner = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


def health_of(connection: MidjourneyConnection, probe_seconds: float) -> ConnectionHealth:
    """Describe a stored connection for its owner."""
    working = connection.state == ConnectionState.ACTIVE
    reason = advice = link = ""
    if connection.state == ConnectionState.PAUSED:
        description = describe_pause(connection.pause_reason, probe_seconds)
        reason, advice = description.reason, description.advice
        link = connection.pause_link if description.shows_link else ""
    elif not working:
        reason = "The account was disconnected."
        advice = "Connect the account again with the MidJAu browser extension."
    return ConnectionHealth(
        connection_id=connection.id,
        user_id=connection.user_id,
        label=connection.label or f"connection {connection.id}",
        guild_id=connection.guild_id,
        channel_id=connection.channel_id,
        plan=connection.plan,
        working=working,
        reason=reason,
        advice=advice,
        link=link,
        paused_at=connection.paused_at,
        speed_override=connection.speed_override or "",
        relax_when_fast_used_up=connection.relax_when_fast_used_up,
        appeal_soft_moderation=connection.appeal_soft_moderation,
        learned_job_limit=connection.learned_job_limit,
    )


class HealthMonitor:
    """Pause and resume connections, probe paused ones, and tell the listeners."""

    def __init__(
        self,
        settings: Settings,
        ledger: JobLedger,
        *,
        runtime: RuntimeLookup,
        start: ConnectionStarter,
        run: Callable[[ConnectionRuntime], None],
        own: TaskOwner,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.listeners: list[ConnectionListener] = []
        self._runtime = runtime
        self._start = start
        self._run = run
        self._own = own
        self._probes: dict[int, asyncio.Task[None]] = {}
        # Connection id → when its trial job was let through.
        self._trials: dict[int, datetime] = {}
        ledger.subscribe(self._on_job_changed)

    @property
    def probe_seconds(self) -> float:
        """Seconds between two checks of a paused connection."""
        return self.settings.pacing.resume_probe_seconds

    # Queries ------------------------------------------------------------------------------

    async def connection_health(self, user_id: int) -> list[ConnectionHealth]:
        """Return the health of each of the user's connections."""
        async with self.ledger.db.sessions() as session:
            connections = await list_user_connections(session, user_id)
        return [health_of(connection, self.probe_seconds) for connection in connections]

    async def summary(self) -> dict[str, int]:
        """Return how many connections work and how many are paused."""
        async with self.ledger.db.sessions() as session:
            counts = await count_connections_by_state(session)
        return {
            "working": counts.get(ConnectionState.ACTIVE, 0),
            "paused": counts.get(ConnectionState.PAUSED, 0),
        }

    async def set_choices(
        self,
        connection_id: int,
        user_id: int,
        *,
        relax_when_fast_used_up: bool | None = None,
        appeal_soft_moderation: bool | None = None,
    ) -> bool:
        """Store the owner's choices; return False when the connection is not theirs.

        Turning relax off also ends a switch to relax mode, so later jobs run fast again.
        """
        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None or connection.user_id != user_id:
                return False
            if appeal_soft_moderation is not None:
                connection.appeal_soft_moderation = appeal_soft_moderation
            if relax_when_fast_used_up is not None:
                connection.relax_when_fast_used_up = relax_when_fast_used_up
                if not relax_when_fast_used_up:
                    connection.speed_override = ""
            override = connection.speed_override
        runtime = self._runtime(connection_id)
        if runtime is not None:
            runtime.dispatcher.speed_override = override
        return True

    # Pausing and resuming ---------------------------------------------------------------------

    async def pause(self, connection_id: int, reason: str, *, link: str = "") -> None:
        """Stop a connection for ``reason`` (or switch it to relax mode), and probe it."""
        cause = classify_pause(reason)
        if cause is PauseCause.FAST_HOURS_USED_UP and await self._go_on_in_relax(connection_id):
            return
        trial = self._trials.pop(connection_id, None)
        runtime = self._runtime(connection_id)
        if runtime is not None:
            runtime.dispatcher.pause()

        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None:
                return
            previous = mark_connection_paused(
                connection, reason, with_guild(link, connection.guild_id)
            )
        self._probe_later(connection_id)

        if previous is not None and classify_pause(previous) is cause:
            verb = "trial job answered" if trial else "paused again"
            log.info("connection %s still paused (%s): %s", connection_id, verb, reason)
            return
        log.warning("connection %s paused (%s): %s", connection_id, cause, reason)
        self._own(self._tell(connection_id, paused=True), f"pause notice of {connection_id}")

    async def resume(self, connection_id: int, user_id: int | None = None) -> bool:
        """Let a connection send again; return False when it is not ``user_id``'s."""
        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None or (user_id is not None and connection.user_id != user_id):
                return False
            was_paused = connection.state == ConnectionState.PAUSED
            mark_connection_active(connection)
        self._trials.pop(connection_id, None)
        self._stop_probe(connection_id)

        runtime = self._runtime(connection_id)
        if runtime is None:
            await self._start(connection, paused=False)
        else:
            runtime.dispatcher.resume()
            if runtime.task is None or runtime.task.done():
                self._run(runtime)
        if was_paused:
            who = "by its owner" if user_id is not None else "after a successful check"
            log.info("connection %s resumed %s", connection_id, who)
            self._own(self._tell(connection_id, paused=False), f"resume notice of {connection_id}")
        return True

    async def reconnected(self, connection_id: int, was_paused: bool) -> None:
        """Forget the pause of a connection whose owner connected it again."""
        self._trials.pop(connection_id, None)
        self._stop_probe(connection_id)
        if was_paused:
            self._own(self._tell(connection_id, paused=False), f"resume notice of {connection_id}")

    def watch(self, connection_ids: list[int]) -> None:
        """Probe connections found paused at start."""
        for connection_id in connection_ids:
            self._probe_later(connection_id)

    async def close(self) -> None:
        """Stop every probe."""
        probes = list(self._probes.values())
        self._probes.clear()
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)

    # Relax mode ---------------------------------------------------------------------------------

    async def _go_on_in_relax(self, connection_id: int) -> bool:
        """Switch a connection to relax mode if its owner chose so and its plan has relax."""
        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None or not connection.relax_when_fast_used_up:
                return False
            if slot_limits(self.settings, connection).relax <= 0:
                log.info("connection %s: plan %s has no relax mode", connection_id, connection.plan)
                return False
            switched = connection.speed_override != RELAX
            connection.speed_override = RELAX
        runtime = self._runtime(connection_id)
        if runtime is not None:
            runtime.dispatcher.speed_override = RELAX

        # Jobs sent but not started were answered (or will be) with the same notice, and go
        # back to the queue keeping their new mode.
        async with self.ledger.db.sessions() as session:
            job_ids = list(
                await session.scalars(
                    select(Job.id)
                    .where(Job.connection_id == connection_id, Job.mode != RELAX)
                    .where(Job.status.in_([JobStatus.QUEUED, JobStatus.SUBMITTED]))
                )
            )
        for job_id in job_ids:
            await self.ledger.modify(
                job_id,
                lambda job: speed_changes(job, RELAX) or None,
                when=[JobStatus.QUEUED, JobStatus.SUBMITTED],
            )
        if switched:
            log.warning(
                "connection %s: fast hours used up; going on in relax mode (%d jobs moved)",
                connection_id,
                len(job_ids),
            )
        return True

    # Probes ---------------------------------------------------------------------------------------

    def _probe_later(self, connection_id: int) -> None:
        probe = self._probes.get(connection_id)
        if probe is not None and not probe.done():
            return
        self._probes[connection_id] = asyncio.create_task(
            self._probe_until_resumed(connection_id), name=f"probe of connection {connection_id}"
        )

    def _stop_probe(self, connection_id: int) -> None:
        probe = self._probes.pop(connection_id, None)
        if probe is not None and probe is not asyncio.current_task():
            probe.cancel()

    async def _probe_until_resumed(self, connection_id: int) -> None:
        while True:
            await asyncio.sleep(self.probe_seconds)
            try:
                if await self._probe(connection_id):
                    return
            except Exception:
                log.exception("connection %s: checking the paused account failed", connection_id)

    async def _probe(self, connection_id: int) -> bool:
        """Check a paused connection once; return True when it is no longer paused."""
        async with self.ledger.db.sessions() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
        if connection is None or connection.state != ConnectionState.PAUSED:
            return True
        cause = classify_pause(connection.pause_reason)

        runtime = self._runtime(connection_id)
        if runtime is None:
            # The session never opened (a rejected token at start): opening it is the check.
            runtime = await self._start(connection, paused=True)
            if runtime is None:
                return False
        elif not await _discord_accepts(runtime, connection_id):
            return False
        if not cause.needs_trial:
            return await self.resume(connection_id)

        if runtime.task is not None and not runtime.task.done():
            return False  # the dispatcher's loop has not noticed the pause yet
        self._trials[connection_id] = utcnow()
        if await runtime.dispatcher.send_trial():
            log.info("connection %s: one job let through to check the account", connection_id)
        else:
            log.info("connection %s: no queued job to check the account with", connection_id)
        return False

    def _on_job_changed(self, change: JobChange) -> None:
        job = change.job
        connection_id = job.connection_id
        started = self._trials.get(connection_id) if connection_id is not None else None
        if connection_id is None or started is None or not _taken_since(job, started):
            return
        del self._trials[connection_id]
        log.info("connection %s: Midjourney took job %s; resuming", connection_id, job.id)
        self._own(self._resume_checked(connection_id), f"resume of connection {connection_id}")

    async def _resume_checked(self, connection_id: int) -> None:
        await self.resume(connection_id)

    # Telling the owner ----------------------------------------------------------------------------

    async def _tell(self, connection_id: int, *, paused: bool) -> None:
        async with self.ledger.db.sessions() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None:
                return
            channel_ids = await list_open_batch_channels(session, connection_id)
        health = health_of(connection, self.probe_seconds)
        for listener in list(self.listeners):
            try:
                if paused:
                    await listener.on_connection_paused(health, channel_ids)
                else:
                    await listener.on_connection_resumed(health, channel_ids)
            except Exception:
                log.exception("connection %s: a listener failed", connection_id)


async def _discord_accepts(runtime: ConnectionRuntime, connection_id: int) -> bool:
    """Return whether Discord answers an authenticated request of the connection."""
    try:
        await runtime.relay.fetch_current_user()
    except (RelayError, aiohttp.ClientError, TimeoutError, OSError) as error:
        log.info("connection %s: Discord still refuses the account (%s)", connection_id, error)
        return False
    return True


def _taken_since(job: Job, since: datetime) -> bool:
    """Return whether Midjourney took a job (or a variation) sent at or after ``since``."""
    if _at_or_after(job.sent_at, since):
        if job.status in _TAKEN_STATUSES or job.status == JobStatus.DONE:
            return True
        if job.status == JobStatus.FAILED and job.failure_category in _TAKEN_FAILURES:
            return True
    return any(
        render.status in _TAKEN_RENDER_STATUSES and _at_or_after(render.sent_at, since)
        for render in renders_of(job).values()
    )


def _at_or_after(moment: datetime | None, since: datetime) -> bool:
    if moment is None:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment >= since
