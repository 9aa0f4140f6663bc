"""In-memory sliding-window rate limits, per process."""

from __future__ import annotations

import time
from collections import deque

# Keys kept at most; past it the least recently hit keys are dropped first, so a flood of
# distinct keys cannot grow the memory without bound.
MAX_KEYS = 50_000


class RateLimiter:
    """Allow at most ``limit`` hits per key within any ``per_seconds`` window."""

    def __init__(self, limit: int, per_seconds: float) -> None:
        if limit < 1 or per_seconds <= 0:
            raise ValueError(f"invalid rate limit {limit} per {per_seconds} s: both must be > 0")
        self.limit = limit
        self.per_seconds = per_seconds
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str) -> bool:
        """Count one attempt for ``key``; return False when it is over the limit."""
        now = time.monotonic()
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.per_seconds:
            hits.popleft()
        # Re-inserting moves the key to the end, so the dict stays ordered by last hit.
        self._hits[key] = hits
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        self._trim()
        return True

    def release(self, key: str) -> None:
        """Take back the latest attempt counted for ``key``, as if it never happened."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()

    def forget(self, key: str) -> None:
        """Drop every attempt counted for ``key``."""
        self._hits.pop(key, None)

    def _trim(self) -> None:
        while len(self._hits) > MAX_KEYS:
            del self._hits[next(iter(self._hits))]
