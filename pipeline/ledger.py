"""The one place where job state is written: each change is its own committed transaction.

Writes go through one lock, so the dispatcher, the tracker and the fetcher never
interleave a read-modify-write of the same job, and SQLite gets one writer at a time.
After each commit the ledger tells its subscribers what changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Job, JobStatus, utcnow

if TYPE_CHECKING:
    from storage.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobChange:
    """A committed change of one job; ``job`` is a detached copy of the row after it."""

    job: Job
    old_status: JobStatus

    @property
    def status_changed(self) -> bool:
        """Return whether the change moved the job to another status."""
        return self.job.status != self.old_status


JobSubscriber = Callable[[JobChange], None]


class JobLedger:
    """Commit job changes one at a time and announce each one."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = asyncio.Lock()
        self._subscribers: list[JobSubscriber] = []

    def subscribe(self, subscriber: JobSubscriber) -> None:
        """Call ``subscriber`` synchronously after every committed job change."""
        self._subscribers.append(subscriber)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Hold the write lock and yield a session whose transaction commits on exit."""
        async with self._lock, self.db.sessions() as session, session.begin():
            yield session

    async def get(self, job_id: str) -> Job | None:
        """Return a detached copy of a job."""
        async with self.db.sessions() as session:
            return await session.get(Job, job_id)

    async def update(
        self, job_id: str, *, when: Collection[JobStatus] | None = None, **changes: Any
    ) -> Job | None:
        """Apply ``changes`` to a job and commit; return the job, or None if it was skipped.

        ``when`` lists the statuses the job must be in for the change to apply, so a late
        event cannot move a finished job back. A new status also stamps the stage timer
        and, where they apply, ``started_at`` and ``finished_at``.
        """
        return await self.modify(job_id, lambda _job: changes, when=when)

    async def modify(
        self,
        job_id: str,
        compute: Callable[[Job], dict[str, Any] | None],
        *,
        when: Collection[JobStatus] | None = None,
    ) -> Job | None:
        """Apply the changes ``compute`` derives from the job's current row, and commit.

        ``compute`` runs under the write lock, so changes that depend on the row (a list
        with one index removed) cannot lose a concurrent update. When it returns None,
        nothing changes and None is returned.
        """
        async with self.transaction() as session:
            job = await session.get(Job, job_id)
            if job is None or (when is not None and job.status not in when):
                return None
            changes = compute(job)
            if changes is None:
                return None
            old_status = job.status
            _apply(job, changes)
        self._announce(JobChange(job, old_status))
        return job

    async def update_many(
        self, job_ids: Collection[str], *, when: Collection[JobStatus], **changes: Any
    ) -> list[Job]:
        """Apply the same ``changes`` to several jobs in one transaction; return those changed."""
        changed: list[tuple[Job, JobStatus]] = []
        async with self.transaction() as session:
            jobs = await session.scalars(select(Job).where(Job.id.in_(list(job_ids))))
            for job in jobs:
                if job.status not in when:
                    continue
                changed.append((job, job.status))
                _apply(job, changes)
        for job, old_status in changed:
            self._announce(JobChange(job, old_status))
        return [job for job, _ in changed]

    def _announce(self, change: JobChange) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(change)
            except Exception:
                log.exception("job %s: a subscriber failed on its change", change.job.id)


def _apply(job: Job, changes: dict[str, Any]) -> None:
    old_status = job.status
    for name, value in changes.items():
        setattr(job, name, value)
    new_status = job.status
    if new_status == old_status:
        return
    now = utcnow()
    job.stage_started_at = now
    if new_status == JobStatus.RUNNING and job.started_at is None:
        job.started_at = now
    if new_status.is_final and job.finished_at is None:
        job.finished_at = now
