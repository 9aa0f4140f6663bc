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
        # Cleared while the connection is paused, so button presses outside the dispatcher
        # wait for the resume instead of reaching a blocked account.
        self._open = asyncio.Event()
        self._open.set()

    @property
    def held(self) -> bool:
        """Whether turns wait for ``release``."""
        return not self._open.is_set()

    def seconds_to_next_turn(self) -> float:
        """Return the seconds left of the gap before the next turn may start."""
        return max(0.0, self._next_allowed - asyncio.get_running_loop().time())

    def hold(self) -> None:
        """Make every later turn wait until ``release`` (except ``ignore_hold`` turns)."""
        self._open.clear()

    def release(self) -> None:
        """Let waiting and later turns go on."""
        self._open.set()

    @asynccontextmanager
    async def turn(self, *, ignore_hold: bool = False) -> AsyncIterator[None]:
        """Wait for this account's next turn and hold it while the interaction is sent.

        While the pacer is held the turn waits for ``release``; the dispatcher passes
        ``ignore_hold`` because it checks its own pause flag.
        """
        await self._acquire(ignore_hold)
        loop = asyncio.get_running_loop()
        try:
            delay = self._next_allowed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield
        finally:
            jitter = _random.uniform(0, self.jitter_seconds) if self.jitter_seconds else 0.0
            self._next_allowed = loop.time() + self.min_gap_seconds + jitter
            self._lock.release()

    async def _acquire(self, ignore_hold: bool) -> None:
        # A hold that began while this turn queued for the lock still applies to it.
        while True:
            if not ignore_hold:
                await self._open.wait()
            await self._lock.acquire()
            if ignore_hold or not self.held:
                return
            self._lock.release()
