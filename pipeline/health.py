"""The health of each Midjourney connection: pause, check, resume, and tell the owner.

A connection is paused when Discord or Midjourney stops its account: a pending moderation
message, a CAPTCHA, an ended subscription, a rejected token (401), a blocked account (403)
or used-up fast hours. While paused it sends no prompt and presses no button, and jobs in
flight keep their state. A probe (``pipeline.health_probes``) checks the account until it
works again; the owner's Resume resumes at once.

Used-up fast hours do not pause a connection whose owner chose relax mode on a plan that
has it: its fast jobs are moved to relax and the batch goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from pipeline.accounts import (
    count_connections_by_state,
    is_restricted,
    list_open_batch_channels,
    list_user_connections,
    mark_connection_active,
    mark_connection_paused,
)
from pipeline.connections import TaskOwner, slot_limits
from pipeline.dispatcher import speed_changes
from pipeline.health_probes import PauseProbes
from pipeline.ledger import JobLedger
from pipeline.pause_reasons import PauseCause, classify_pause, describe_pause, with_guild
from storage.models import ConnectionState, Job, JobStatus, MidjourneyConnection

if TYPE_CHECKING:
    from midjau.settings import Settings
    from pipeline.connection_runner import ConnectionRunner

log = logging.getLogger(__name__)

RELAX = "relax"


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
    # Why and until when a working connection delays its sends (the daily cap, a back-off).
    waiting: str = ""


class ConnectionListener(Protocol):
    """Hears when a connection pauses or resumes (the Discord bot tells the owner)."""

    async def on_connection_paused(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Tell the owner, in the channels of their open batches on it (or by DM)."""

    async def on_connection_resumed(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Tell the owner the connection works again."""


@dataclass(frozen=True, slots=True)
class ConnectionChoices:
    """The owner's choices for a connection; None leaves a choice as it is."""

    relax_when_fast_used_up: bool | None = None
    appeal_soft_moderation: bool | None = None


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
        connections: ConnectionRunner,
        own: TaskOwner,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.connections = connections
        self.listeners: list[ConnectionListener] = []
        self._own = own
        self.probes = PauseProbes(
            settings, ledger, connections=connections, resume=self.resume, own=own
        )

    @property
    def probe_seconds(self) -> float:
        """Seconds between two checks of a paused connection."""
        return self.probes.probe_seconds

    # Queries ------------------------------------------------------------------------------

    async def connection_health(self, user_id: int) -> list[ConnectionHealth]:
        """Return the health of each of the user's connections."""
        async with self.ledger.db.sessions() as session:
            connections = await list_user_connections(session, user_id)
        return [
            replace(health, waiting=self.waiting(health.connection_id))
            for health in (health_of(connection, self.probe_seconds) for connection in connections)
        ]

    def waiting(self, connection_id: int | None) -> str:
        """Return until when and why a running connection delays its sends, or ""."""
        runtime = self.connections.get(connection_id)
        holding = runtime.dispatcher.holding() if runtime is not None else None
        if holding is None:
            return ""
        until, reason = holding
        because = f": {reason}" if reason else ""
        return f"Sending waits until {until.strftime('%Y-%m-%d %H:%M')} UTC{because}."

    async def summary(self) -> dict[str, int]:
        """Return how many connections work, how many are paused and how many fail to start.

        An active connection works only while its Discord session is open; one whose
        session never opened (a wrong channel, Discord unreachable) is failing.
        """
        async with self.ledger.db.sessions() as session:
            counts = await count_connections_by_state(session)
            active_ids = list(
                await session.scalars(
                    select(MidjourneyConnection.id).where(
                        MidjourneyConnection.state == ConnectionState.ACTIVE
                    )
                )
            )
        working = sum(1 for connection_id in active_ids if self.connections.get(connection_id))
        return {
            "working": working,
            "paused": counts.get(ConnectionState.PAUSED, 0),
            "failing": len(active_ids) - working,
        }

    async def set_choices(
        self, connection_id: int, user_id: int, choices: ConnectionChoices
    ) -> bool:
        """Store the owner's choices; return False when the connection is not theirs.

        Turning relax off also ends a switch to relax mode, so later jobs run fast again.
        """
        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None or connection.user_id != user_id:
                return False
            if choices.appeal_soft_moderation is not None:
                connection.appeal_soft_moderation = choices.appeal_soft_moderation
            if choices.relax_when_fast_used_up is not None:
                connection.relax_when_fast_used_up = choices.relax_when_fast_used_up
                if not choices.relax_when_fast_used_up:
                    connection.speed_override = ""
            override = connection.speed_override
        runtime = self.connections.get(connection_id)
        if runtime is not None:
            runtime.dispatcher.speed_override = override
        return True

    # Pausing and resuming ---------------------------------------------------------------------

    async def pause(self, connection_id: int, reason: str, *, link: str = "") -> None:
        """Stop a connection for ``reason`` (or switch it to relax mode), and probe it."""
        cause = classify_pause(reason)
        if cause is PauseCause.FAST_HOURS_USED_UP and await self._go_on_in_relax(connection_id):
            return
        trial = self.probes.forget_trial(connection_id)
        runtime = self.connections.get(connection_id)
        if runtime is not None:
            runtime.dispatcher.pause()

        async with self.ledger.transaction() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
            if connection is None:
                return
            previous = mark_connection_paused(
                connection, reason, with_guild(link, connection.guild_id)
            )
        self.probes.probe_later(connection_id)

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
            # While the owner restricts processing, nothing but lifting it may resume.
            if await is_restricted(session, connection.user_id):
                log.info(
                    "connection %s stays paused: its owner restricted processing", connection_id
                )
                return False
            was_paused = connection.state == ConnectionState.PAUSED
            mark_connection_active(connection)
        self.probes.stop(connection_id)

        runtime = self.connections.get(connection_id)
        if runtime is None:
            await self.connections.start(connection, paused=False)
        else:
            runtime.dispatcher.resume()
            if runtime.task is None or runtime.task.done():
                self.connections.run_dispatcher(runtime)
        if was_paused:
            who = "by its owner" if user_id is not None else "after a successful check"
            log.info("connection %s resumed %s", connection_id, who)
            self._own(self._tell(connection_id, paused=False), f"resume notice of {connection_id}")
        return True

    async def reconnected(self, connection_id: int, was_paused: bool) -> None:
        """Forget the pause of a connection whose owner connected it again."""
        self.probes.stop(connection_id)
        if was_paused:
            self._own(self._tell(connection_id, paused=False), f"resume notice of {connection_id}")

    def forget(self, connection_id: int) -> None:
        """Stop probing a connection that is being removed."""
        self.probes.stop(connection_id)

    def watch(self, connection_ids: list[int]) -> None:
        """Probe connections found paused at start."""
        for connection_id in connection_ids:
            self.probes.probe_later(connection_id)

    async def close(self) -> None:
        """Stop every probe."""
        await self.probes.close()

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
        runtime = self.connections.get(connection_id)
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
