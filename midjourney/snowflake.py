"""Snowflake-shaped nonces, the deduplication key Discord clients put on each interaction."""

from __future__ import annotations

import secrets
import time

# Milliseconds of 2015-01-01T00:00:00Z, the epoch of Discord snowflakes.
DISCORD_EPOCH_MS = 1_420_070_400_000


def new_nonce() -> str:
    """Return a fresh nonce: the current Discord timestamp with 22 random low bits."""
    now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return str((now_ms << 22) | secrets.randbits(22))
