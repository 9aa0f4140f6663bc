"""Discord snowflakes: fresh nonces for interactions, and the times that ids encode."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

# Milliseconds of 2015-01-01T00:00:00Z, the epoch of Discord snowflakes.
DISCORD_EPOCH_MS = 1_420_070_400_000


def new_nonce() -> str:
    """Return a fresh nonce: the current Discord timestamp with 22 random low bits."""
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((now_ms << 22) | secrets.randbits(22))


def snowflake_time(snowflake: str | int) -> datetime:
    """Return when a snowflake (a message id, a nonce) was made."""
    milliseconds = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def snowflake_at(moment: datetime) -> str:
    """Return the smallest snowflake made at ``moment``, for history look-ups with ``after``."""
    milliseconds = max(0, int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS)
    return str(milliseconds << 22)
