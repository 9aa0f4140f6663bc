"""What the batch benchmark measures: slot holds, process CPU and memory.

A job holds one of the account's slots from ``sent_at`` (the dispatcher commits it as
SUBMITTED just before the ``/imagine`` interaction goes out) until the commit that moves it
out of the in-flight statuses (submitted, waiting, running). For a job that succeeds, that
commit records its final grid; for one that fails, its failure. This is the count the
dispatcher itself uses to decide whether a slot is free.
"""

from __future__ import annotations

import bisect
import resource
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from midjourney.snowflake import snowflake_time
from pipeline.ledger import JobChange
from storage.models import IN_FLIGHT_JOB_STATUSES, Job, utcnow

KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Moment:
    """A point in a run: clocks, the process's CPU seconds and its memory high-water mark."""

    wall: datetime
    monotonic: float
    cpu_seconds: float
    peak_rss_mib: float

    @classmethod
    def now(cls) -> Moment:
        """Return the present moment."""
        return cls(utcnow(), time.perf_counter(), time.process_time(), peak_memory_mib())


@dataclass(slots=True)
class SlotRecorder:
    """Record each slot hold and the moment the last job became final, from job changes."""

    job_count: int
    holds: dict[str, list[tuple[datetime, datetime]]] = field(default_factory=dict)
    finals: int = 0
    all_final: Moment | None = None
    _taken: dict[str, datetime] = field(default_factory=dict)

    def __call__(self, change: JobChange) -> None:
        """Take one committed job change from the ledger."""
        if not change.status_changed:
            return
        job = change.job
        was_in_flight = change.old_status in IN_FLIGHT_JOB_STATUSES
        is_in_flight = job.status in IN_FLIGHT_JOB_STATUSES
        # The ledger stamps stage_started_at with the commit time of every status change.
        if is_in_flight and not was_in_flight:
            self._taken[job.id] = job.sent_at or job.stage_started_at or utcnow()
        elif was_in_flight and not is_in_flight:
            taken = self._taken.pop(job.id, None)
            if taken is not None:
                freed = job.stage_started_at or utcnow()
                self.holds.setdefault(job.id, []).append((taken, freed))

        if job.status.is_final:
            self.finals += 1
            if self.finals == self.job_count:
                self.all_final = Moment.now()

    def all_holds(self) -> list[tuple[datetime, datetime]]:
        """Return every recorded hold; a job that was sent again has several."""
        return [hold for job_holds in self.holds.values() for hold in job_holds]


@dataclass(frozen=True, slots=True)
class SlotUse:
    """The share of slot time a run used, and the delays around each send."""

    utilisation: float  # held slot-seconds / (slots × makespan)
    mean_hold_seconds: float
    first_send_seconds: float  # from the batch being queued to the first prompt sent
    mean_refill_seconds: float  # from a slot being freed to the next prompt sent
    max_refill_seconds: float


def measure_slot_use(
    holds: list[tuple[datetime, datetime]], *, queued_at: datetime, ended_at: datetime, slots: int
) -> SlotUse:
    """Compute slot utilisation over the makespan from ``queued_at`` to ``ended_at``."""
    if not holds:
        return SlotUse(0.0, 0.0, 0.0, 0.0, 0.0)
    makespan = (ended_at - queued_at).total_seconds()
    held = sum((freed - taken).total_seconds() for taken, freed in holds)
    sends = sorted(taken for taken, _ in holds)

    # A freed slot counts for refill only while a later send exists to fill it.
    refills = []
    for freed in sorted(freed for _, freed in holds):
        position = bisect.bisect_left(sends, freed)
        if position < len(sends):
            refills.append((sends[position] - freed).total_seconds())

    return SlotUse(
        utilisation=held / (slots * makespan) if makespan > 0 else 0.0,
        mean_hold_seconds=held / len(holds),
        first_send_seconds=(sends[0] - queued_at).total_seconds(),
        mean_refill_seconds=sum(refills) / len(refills) if refills else 0.0,
        max_refill_seconds=max(refills, default=0.0),
    )


@dataclass(frozen=True, slots=True)
class HoldBreakdown:
    """Mean seconds of the three parts of a slot hold, from message snowflake times."""

    sent_to_started: float  # sent_at → Midjourney's "Waiting to start" message created
    started_to_grid: float  # that message → the final grid message created
    grid_to_recorded: float  # the grid message created → MidJAu committed it, freeing the slot
    jobs: int


def break_down_holds(
    jobs: list[Job], holds: dict[str, list[tuple[datetime, datetime]]]
) -> HoldBreakdown:
    """Split each done job's last slot hold at the times its Discord messages were created."""
    parts: list[tuple[float, float, float]] = []
    for job in jobs:
        job_holds = holds.get(job.id)
        if not job_holds or not job.progress_message_id or not job.grid_message_id:
            continue
        taken, freed = job_holds[-1]
        started = snowflake_time(job.progress_message_id)
        grid = snowflake_time(job.grid_message_id)
        parts.append(
            (
                (started - taken).total_seconds(),
                (grid - started).total_seconds(),
                (freed - grid).total_seconds(),
            )
        )
    if not parts:
        return HoldBreakdown(0.0, 0.0, 0.0, 0)
    count = len(parts)
    return HoldBreakdown(
        sent_to_started=sum(part[0] for part in parts) / count,
        started_to_grid=sum(part[1] for part in parts) / count,
        grid_to_recorded=sum(part[2] for part in parts) / count,
        jobs=count,
    )


def resident_memory_mib() -> float:
    """Return this process's resident memory now, in MiB (Linux), else its peak so far."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * KIB / MIB
    return peak_memory_mib()


def peak_memory_mib() -> float:
    """Return this process's resident-memory high-water mark, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is in bytes on macOS and in KiB on Linux.
    return peak / MIB if sys.platform == "darwin" else peak * KIB / MIB
