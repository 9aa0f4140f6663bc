"""Human pacing for one connected Discord account: one interaction at a time, with a gap."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_random = secrets.SystemRandom()


class Pacer:
    """Space the interactions of one account: a minimum gap plus random jitter between them.

    Prompts and button presses of one account share a pacer, so the account never sends two
    interactions at once and never faster than the gap allows.
    """

    def __init__(self, min_gap_seconds: float, jitter_seconds: float = 0.0) -> None:
        self.min_gap_seconds = min_gap_seconds
        self.jitter_seconds = jitter_seconds
        self._lock = asyncio.Lock()
        self._next_allowed = 0.0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this account's next turn and hold it while the interaction is sent."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            delay = self._next_allowed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                yield
            finally:
                jitter = _random.uniform(0, self.jitter_seconds) if self.jitter_seconds else 0.0
                self._next_allowed = loop.time() + self.min_gap_seconds + jitter
