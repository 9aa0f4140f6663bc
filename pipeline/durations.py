"""Durations in the words people read them in, for reports, logs and Discord messages."""

from __future__ import annotations

# Below this many seconds a fraction is kept ("2.5 s"), because timeouts this short are
# set in tenths (the sandbox scales minutes down to seconds).
_TENTHS_BELOW_SECONDS = 10


def format_duration(seconds: float) -> str:
    """Write a duration as "0.3 s", "45 s", "4 min 10 s", "10 min", "2 h 5 min" or "1 h"."""
    tenths = round(seconds, 1)
    if 0 < tenths < _TENTHS_BELOW_SECONDS and tenths != round(tenths):
        return f"{tenths:g} s"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"
