"""Durations in the words people read them in, for reports, logs and Discord messages."""

from __future__ import annotations

HOURS_PER_DAY = 24

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


def daily_cap_notice(jobs: int, daily_cap: int, queued_before: int = 0) -> str | None:
    """Return the days a batch takes when its jobs exceed the daily cap, or None.

    The cap counts prompts sent in any 24 hours, so job ``cap + 1`` waits a day after the
    first one, and the last of ``n`` jobs goes out after ``(n - 1) // cap`` days. Jobs of
    other batches ``queued_before`` on the connection share the cap, so they count too.
    """
    total = jobs + queued_before
    if daily_cap <= 0 or total <= daily_cap:
        return None
    days = (total - 1) // daily_cap
    counted = f"the {jobs:,} jobs"
    if queued_before:
        counted = f"this batch's {jobs:,} jobs and the {queued_before:,} queued before them"
    prompts = "prompt" if daily_cap == 1 else "prompts"
    return (
        f"At this connection's daily cap of {daily_cap:,} {prompts} per {HOURS_PER_DAY} hours, "
        f"{counted} take more than {days} day{'' if days == 1 else 's'}. "
        "A higher cap in the connection's settings makes it shorter, at more risk to the account."
    )
