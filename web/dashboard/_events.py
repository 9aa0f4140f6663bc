"""Live batch progress for the batch page, as server-sent events.

The engine sends every batch's progress to one ``ProgressHub`` (a BatchListener), and each
open event stream subscribes to the one batch it shows. A subscriber keeps only the latest
progress, so a slow browser gets fewer, newer updates instead of a growing backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from aiohttp import web

from pipeline.progress import BatchProgress, BatchResult

log = logging.getLogger(__name__)

# A comment line at this interval keeps proxies from closing an idle stream.
HEARTBEAT_SECONDS = 15.0
# Browsers wait this long before they reconnect a closed stream.
RETRY_MILLISECONDS = 3000


class Subscription:
    """The progress one event stream has yet to send, and whether its batch has ended."""

    def __init__(self) -> None:
        self.latest: BatchProgress | None = None
        self.finished = False
        self.closed = False
        self.changed = asyncio.Event()

    def take(self) -> BatchProgress | None:
        """Return the progress not yet sent, and forget it."""
        latest, self.latest = self.latest, None
        self.changed.clear()
        return latest


class ProgressHub:
    """Fan the engine's batch news out to the event streams that show each batch."""

    def __init__(self) -> None:
        self._subscriptions: dict[int, set[Subscription]] = {}

    @contextmanager
    def subscribe(self, batch_id: int) -> Iterator[Subscription]:
        """Follow one batch for as long as the ``with`` block runs."""
        subscription = Subscription()
        self._subscriptions.setdefault(batch_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscriptions.get(batch_id, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscriptions.pop(batch_id, None)

    async def on_batch_progress(self, progress: BatchProgress) -> None:
        """Hand the progress to the batch's subscribers."""
        for subscription in self._subscriptions.get(progress.batch_id, ()):
            subscription.latest = progress
            subscription.changed.set()

    async def on_batch_finished(self, result: BatchResult) -> None:
        """Tell the batch's subscribers that it has been packaged."""
        for subscription in self._subscriptions.get(result.batch_id, ()):
            subscription.finished = True
            subscription.changed.set()

    def close(self) -> None:
        """End every open stream, so the server can shut down without waiting for them."""
        for subscribers in self._subscriptions.values():
            for subscription in subscribers:
                subscription.closed = True
                subscription.changed.set()


def progress_json(progress: BatchProgress) -> dict[str, Any]:
    """Return the progress fields the batch page shows."""
    data = asdict(progress)
    data.pop("discord_channel_id", None)
    data.pop("progress_message_id", None)
    data["finished"] = progress.finished
    return data


async def open_stream(request: web.Request) -> web.StreamResponse:
    """Start a ``text/event-stream`` response that no cache or proxy buffers."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
    return response


async def send_event(response: web.StreamResponse, event: str, data: dict[str, Any]) -> None:
    """Write one named event with a JSON body."""
    body = json.dumps(data, separators=(",", ":"))
    await response.write(f"event: {event}\ndata: {body}\n\n".encode())


async def send_heartbeat(response: web.StreamResponse) -> None:
    """Write a comment line, which EventSource ignores."""
    await response.write(b": keep-alive\n\n")
