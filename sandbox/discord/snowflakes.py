"""Discord-style snowflake ids, increasing in creation order."""

from __future__ import annotations

import secrets
import time

# Milliseconds of 2015-01-01T00:00:00Z, the epoch of Discord snowflakes.
DISCORD_EPOCH_MS = 1_420_070_400_000


class SnowflakeFactory:
    """Make unique snowflakes whose order matches creation order, even within one millisecond."""

    def __init__(self) -> None:
        self._last = 0

    def next_id(self) -> str:
        """Return a new snowflake as a decimal string."""
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        candidate = now_ms << 22
        self._last = max(candidate, self._last + 1)
        return str(self._last)


def snowflake_to_unix(snowflake: str) -> float:
    """Return the Unix time (seconds) encoded in a snowflake."""
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000


def random_nonce() -> str:
    """Return a nonce in the snowflake shape Discord clients send."""
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((now_ms << 22) | secrets.randbits(22))
