"""Discord snowflakes: times of message ids, and ids for history look-ups by time."""

from __future__ import annotations

from datetime import UTC, datetime

# Milliseconds from the Unix epoch to Discord's epoch (2015-01-01T00:00:00Z).
DISCORD_EPOCH_MS = 1_420_070_400_000


def snowflake_time(snowflake: str | int) -> datetime:
    """Return when a snowflake (a message id, a nonce) was made."""
    milliseconds = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def snowflake_at(moment: datetime) -> str:
    """Return the smallest snowflake made at ``moment``, for history look-ups with ``after``."""
    milliseconds = max(0, int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS)
    return str(milliseconds << 22)
