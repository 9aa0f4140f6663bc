"""Plan concurrency of one simulated Midjourney account: running jobs and the waiting queue."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

JobT = TypeVar("JobT")


class Admission(StrEnum):
    """The outcome of handing a job to the account: run, queue or reject."""

    RUN = "run"
    QUEUED = "queued"
    FULL = "full"


def pool_of(mode: str) -> str:
    """Return the slot pool a speed mode draws from; turbo shares the fast slots."""
    return "relax" if mode == "relax" else "fast"


@dataclass(slots=True)
class AccountSlots(Generic[JobT]):
    """Running counts per pool and one waiting queue shared by both pools."""

    capacity: Callable[[str], int]
    queue_size: Callable[[], int]
    running: dict[str, int] = field(default_factory=lambda: {"fast": 0, "relax": 0})
    waiting: deque[tuple[str, JobT]] = field(default_factory=deque)

    def admit(self, job: JobT, mode: str) -> Admission:
        """Start ``job`` when its pool has room, else queue it, else reject it."""
        pool = pool_of(mode)
        if self.running[pool] < self.capacity(pool):
            self.running[pool] += 1
            return Admission.RUN
        if len(self.waiting) < self.queue_size():
            self.waiting.append((pool, job))
            return Admission.QUEUED
        return Admission.FULL

    def release(self, mode: str) -> JobT | None:
        """Free a slot of ``mode``'s pool; return the oldest waiting job that takes it."""
        pool = pool_of(mode)
        self.running[pool] = max(0, self.running[pool] - 1)
        for position, (waiting_pool, job) in enumerate(self.waiting):
            if waiting_pool == pool and self.running[pool] < self.capacity(pool):
                del self.waiting[position]
                self.running[pool] += 1
                return job
        return None
