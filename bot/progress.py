"""The progress message of a batch: how it reads, and how often it is edited."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pipeline.durations import format_duration
from pipeline.progress import BatchProgress

log = logging.getLogger(__name__)

BAR_WIDTH = 20
_FILLED = "█"
_EMPTY = "░"

_STATUS_WORDS = {
    "awaiting_confirmation": "awaiting confirmation",
    "queued": "queued",
    "running": "running",
    "packaging": "packaging the results",
    "done": "done",
    "cancelled": "cancelled",
    "failed": "failed",
}


def status_text(status: str) -> str:
    """Return a batch status (a storage BatchStatus value) in words."""
    return _STATUS_WORDS.get(status, status)


def render_bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """Draw a text bar ``width`` cells wide, filled to ``fraction`` (clamped to 0-1)."""
    fraction = min(max(fraction, 0.0), 1.0)
    filled = math.floor(fraction * width)
    return _FILLED * filled + _EMPTY * (width - filled)


def render_progress(progress: BatchProgress) -> str:
    """Render the progress message: title, bar with percentage, counts by state, ETA."""
    status = status_text(progress.status)
    fraction = progress.finished / progress.total if progress.total else 1.0
    header = f"**Batch {progress.batch_id}** · {status}"
    percent = math.floor(fraction * 100)
    bar = f"`{render_bar(fraction)}` {percent} % · {progress.finished}/{progress.total} jobs"

    counts = [
        f"done {progress.done}",
        f"failed {progress.failed}",
        f"running {progress.running}",
        f"queued {progress.queued}",
    ]
    if progress.skipped:
        counts.append(f"skipped {progress.skipped}")
    if progress.cancelled:
        counts.append(f"cancelled {progress.cancelled}")
    if progress.eta_seconds is not None and progress.finished < progress.total:
        counts.append(f"ETA {format_duration(progress.eta_seconds)}")
    return "\n".join([header, bar, " · ".join(counts)])


KeyT = TypeVar("KeyT", bound=Hashable)
ValueT = TypeVar("ValueT")


@dataclass
class _Lane(Generic[ValueT]):
    pending: ValueT | None = None
    has_pending: bool = False
    last_sent: float | None = None
    worker: asyncio.Task[None] | None = None
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class EditThrottle(Generic[KeyT, ValueT]):
    """Send updates per key at most once every ``interval`` seconds, always sending the last.

    ``submit`` only records the newest value and returns at once, so the engine that
    reports progress is never held up by Discord. One worker task per key sends the
    newest value, waits out the interval, and sends again if something newer arrived;
    values in between are dropped because only the newest state matters.
    """

    def __init__(
        self,
        interval: float,
        send: Callable[[KeyT, ValueT], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = interval
        self._send = send
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[KeyT, _Lane[ValueT]] = {}

    def submit(self, key: KeyT, value: ValueT) -> None:
        """Record ``value`` as the newest for ``key`` and make sure a worker will send it."""
        lane = self._lanes.setdefault(key, _Lane())
        lane.pending = value
        lane.has_pending = True
        if lane.worker is None or lane.worker.done():
            lane.idle.clear()
            lane.worker = asyncio.create_task(self._drain(key, lane), name=f"throttle-{key}")

    async def flush(self, key: KeyT) -> None:
        """Wait until the newest value for ``key`` has been sent, then forget the key."""
        lane = self._lanes.get(key)
        if lane is None:
            return
        if lane.worker is not None and not lane.worker.done():
            await lane.idle.wait()
        self._lanes.pop(key, None)

    async def close(self) -> None:
        """Cancel every worker; values not yet sent are dropped."""
        workers = [lane.worker for lane in self._lanes.values() if lane.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._lanes.clear()

    async def _drain(self, key: KeyT, lane: _Lane[ValueT]) -> None:
        try:
            while lane.has_pending:
                await self._wait_for_turn(lane)
                value = lane.pending
                lane.pending = None
                lane.has_pending = False
                lane.last_sent = self._clock()
                await self._send_logged(key, value)  # type: ignore[arg-type]
        finally:
            lane.idle.set()

    async def _wait_for_turn(self, lane: _Lane[ValueT]) -> None:
        if lane.last_sent is None:
            return
        remaining = lane.last_sent + self._interval - self._clock()
        if remaining > 0:
            await self._sleep(remaining)

    async def _send_logged(self, key: KeyT, value: ValueT) -> None:
        # One failed edit (a deleted message, a Discord hiccup) must not stop later ones.
        try:
            await self._send(key, value)
        except Exception:
            log.exception("sending the throttled update for %s failed", key)
