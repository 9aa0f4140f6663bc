"""Read what a gateway missed from channel history after its session was lost.

A gateway that resumes its session receives the dispatches it missed, but one that had to
identify anew (Discord invalidated the session, or the socket stayed down too long) does
not. Messages that Midjourney posted meanwhile are still in the channel, so the history
since the oldest job in flight is fed to the tracker. The tracker drops the messages it
has already seen, which makes a catch-up safe to run at any time and more than once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from midjourney.messages import ChannelMessage
from pipeline.connections import (
    HISTORY_PAGE_SIZE,
    MAX_HISTORY_PAGES,
    ConnectionRuntime,
    fetch_history_since,
)
from pipeline.tracker import Tracker

log = logging.getLogger(__name__)


async def catch_up_connection(runtime: ConnectionRuntime, tracker: Tracker) -> int:
    """Feed the connection's channel history since its oldest job in flight to the tracker.

    Return the number of history messages read; 0 when no job is in flight or the
    history could not be read (the timeout sweep looks at the history again later).
    """
    history = await read_missed_history(runtime, tracker)
    if history is None:
        return 0
    log.info("connection %s: caught up on %d history messages", runtime.connection_id, len(history))
    return len(history)


async def read_missed_history(
    runtime: ConnectionRuntime, tracker: Tracker
) -> list[ChannelMessage] | None:
    """Read the history since the connection's oldest job in flight and feed it to the tracker.

    Return the messages, or None when no job is in flight or the history could not be
    read. When the whole stretch was read, a progress message of a job in flight that is
    missing from it was deleted while nobody listened (Midjourney's post-moderation), and
    the tracker treats it as a deletion it has just seen.
    """
    sent_times = [
        job.sent_at
        for job in tracker.index.jobs()
        if job.connection_id == runtime.connection_id and job.sent_at is not None
    ]
    if not sent_times:
        log.debug("connection %s: no job in flight to catch up on", runtime.connection_id)
        return None
    try:
        history = await fetch_history_since(runtime.relay, min(sent_times))
    except Exception as error:
        log.warning(
            "connection %s: reading the channel history failed: %s", runtime.connection_id, error
        )
        return None
    complete = len(history) < MAX_HISTORY_PAGES * HISTORY_PAGE_SIZE
    await tracker.ingest_history(history, channel_id=runtime.channel_id if complete else None)
    return history


async def catch_up_connections(runtimes: Iterable[ConnectionRuntime], tracker: Tracker) -> int:
    """Catch up on every connection in turn; return the number of history messages read."""
    total = 0
    for runtime in list(runtimes):
        total += await catch_up_connection(runtime, tracker)
    return total
