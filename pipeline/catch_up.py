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

from pipeline.connections import ConnectionRuntime, fetch_history_since
from pipeline.tracker import Tracker

log = logging.getLogger(__name__)


async def catch_up_connection(runtime: ConnectionRuntime, tracker: Tracker) -> int:
    """Feed the connection's channel history since its oldest job in flight to the tracker.

    Return the number of history messages read; 0 when no job is in flight or the
    history could not be read (the timeout sweep looks at the history again later).
    """
    sent_times = [
        job.sent_at
        for job in tracker.index.jobs()
        if job.connection_id == runtime.connection_id and job.sent_at is not None
    ]
    if not sent_times:
        log.debug("connection %s: no job in flight to catch up on", runtime.connection_id)
        return 0

    try:
        history = await fetch_history_since(runtime.relay, min(sent_times))
    except Exception as error:
        log.warning(
            "connection %s: reading the channel history to catch up failed: %s",
            runtime.connection_id,
            error,
        )
        return 0

    log.info(
        "connection %s: catching up on %d history messages for %d jobs in flight",
        runtime.connection_id,
        len(history),
        len(sent_times),
    )
    await tracker.ingest_history(history)
    return len(history)


async def catch_up_connections(runtimes: Iterable[ConnectionRuntime], tracker: Tracker) -> int:
    """Catch up on every connection in turn; return the number of history messages read."""
    total = 0
    for runtime in list(runtimes):
        total += await catch_up_connection(runtime, tracker)
    return total
