"""Check paused connections until their account works again, then resume them.

Every ``resume_probe_seconds`` a probe checks a paused account: an authenticated
``GET /users/@me`` first, then, unless the cause was the token, one queued job is let
through. When Midjourney takes that job the connection resumes; when the same answer comes
back it stays paused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import aiohttp

from midjourney.relay import RelayError
from pipeline.connections import ConnectionRuntime, TaskOwner
from pipeline.ledger import JobChange, JobLedger
from pipeline.pause_reasons import classify_pause
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
    from pipeline.connection_runner import ConnectionRunner

log = logging.getLogger(__name__)

# Statuses that show Midjourney took a job: it answered with more than an account notice.
_TAKEN_STATUSES = frozenset({JobStatus.WAITING, JobStatus.RUNNING, JobStatus.UPSCALING})
_TAKEN_FAILURES = frozenset(
    {FailureCategory.INVALID, FailureCategory.MODERATED, FailureCategory.FILTERED}
)
_TAKEN_RENDER_STATUSES = frozenset(
    {VariationStatus.WAITING, VariationStatus.RUNNING, VariationStatus.RENDERED}
)

ConnectionResumer = Callable[[int], Awaitable[bool]]

# Seconds the checks in progress get to end when the probes close, before they are cancelled.
CLOSE_GRACE_SECONDS = 5.0


class PauseProbes:
    """Probe each paused connection on a timer; resume it when its account works again."""

    def __init__(
        self,
        settings: Settings,
        ledger: JobLedger,
        *,
        connections: ConnectionRunner,
        resume: ConnectionResumer,
        own: TaskOwner,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.connections = connections
        self._resume = resume
        self._own = own
        self._probes: dict[int, _Probe] = {}
        # Connection id → when its trial job was let through.
        self._trials: dict[int, datetime] = {}
        ledger.subscribe(self._on_job_changed)

    @property
    def probe_seconds(self) -> float:
        """Seconds between two checks of a paused connection."""
        return self.settings.pacing.resume_probe_seconds

    def forget_trial(self, connection_id: int) -> datetime | None:
        """Forget the connection's trial job; return when it was let through, if there was one."""
        return self._trials.pop(connection_id, None)

    async def close(self) -> None:
        """Stop every probe and wait for the checks in progress to end."""
        probes = list(self._probes.values())
        self._probes.clear()
        for probe in probes:
            probe.stopped.set()
        tasks = [probe.task for probe in probes]
        if not tasks:
            return
        _, stuck = await asyncio.wait(tasks, timeout=CLOSE_GRACE_SECONDS)
        for task in stuck:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def probe_later(self, connection_id: int) -> None:
        """Check a paused connection every ``probe_seconds`` until it is no longer paused."""
        probe = self._probes.get(connection_id)
        if probe is not None and not probe.task.done():
            return
        stopped = asyncio.Event()
        task = asyncio.create_task(
            self._probe_until_resumed(connection_id, stopped),
            name=f"probe of connection {connection_id}",
        )
        self._probes[connection_id] = _Probe(task, stopped)

    def task_of(self, connection_id: int) -> asyncio.Task[None] | None:
        """Return the task probing a connection, if one does."""
        probe = self._probes.get(connection_id)
        return None if probe is None else probe.task

    def stop(self, connection_id: int) -> None:
        """Stop checking a connection and forget its trial job.

        A check in progress finishes first: a cancel inside a SQLite read would leave the
        read's snapshot open and block the checkpoint that purges deleted tokens.
        """
        self._trials.pop(connection_id, None)
        probe = self._probes.pop(connection_id, None)
        if probe is not None:
            probe.stopped.set()

    async def _probe_until_resumed(self, connection_id: int, stopped: asyncio.Event) -> None:
        while not await _set_within(stopped, self.probe_seconds):
            try:
                if await self._probe(connection_id):
                    return
            except Exception:
                log.exception("connection %s: checking the paused account failed", connection_id)

    async def _probe(self, connection_id: int) -> bool:
        """Check a paused connection once; return True when probing it should stop."""
        async with self.ledger.db.sessions() as session:
            connection = await session.get(MidjourneyConnection, connection_id)
        if connection is None or connection.state != ConnectionState.PAUSED:
            return True
        cause = classify_pause(connection.pause_reason)
        if not cause.is_probed:
            return True  # a restriction ends only when its owner lifts it

        runtime = self.connections.get(connection_id)
        if runtime is None:
            # The session never opened (a rejected token at start): opening it is the check.
            runtime = await self.connections.start(connection, paused=True)
            if runtime is None:
                return False
        elif not await _discord_accepts(runtime, connection_id):
            return False
        if not cause.needs_trial:
            return await self._resume(connection_id)

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
        await self._resume(connection_id)


@dataclass(frozen=True, slots=True)
class _Probe:
    task: asyncio.Task[None]
    stopped: asyncio.Event


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it was set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


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
