"""The batch page's live progress: ``/dashboard/batches/{id}/events``."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from sqlalchemy import select

from storage.models import Batch
from web.auth import login_required
from web.dashboard._events import (
    HEARTBEAT_SECONDS,
    ProgressHub,
    Subscription,
    open_stream,
    progress_json,
    send_event,
    send_heartbeat,
)
from web.dashboard._queries import owned_batch
from web.handlers import require_engine, require_owned
from web.keys import DATABASE_KEY

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

HUB_KEY = web.AppKey("dashboard_progress_hub", ProgressHub)


@routes.get("/dashboard/batches/{batch_id}/events")
@login_required
async def batch_events(request: web.Request) -> web.StreamResponse:
    """Stream a batch's progress as ``progress`` events, then one ``done`` event at its end.

    The current progress is sent at once. The stream ends after ``done``; a batch that had
    already ended gets its progress and ``done`` straight away.
    """
    require_engine(request)
    _, batch = await require_owned(request, "batch_id", owned_batch)
    batch_id = batch.id

    hub = request.app[HUB_KEY]
    # Subscribe before reading the state, so no change between the two is missed.
    with hub.subscribe(batch_id) as subscription:
        response = await open_stream(request)
        try:
            await _stream_progress(request, response, batch_id, subscription)
        except ConnectionResetError:
            log.debug("batch %s: the browser closed the event stream", batch_id)
    return response


async def _stream_progress(
    request: web.Request,
    response: web.StreamResponse,
    batch_id: int,
    subscription: Subscription,
) -> None:
    engine = require_engine(request)
    await send_event(response, "progress", progress_json(await engine.progress(batch_id)))
    finished = await _has_finished(request, batch_id)
    while not finished and not subscription.closed:
        # Not wait_for: before Python 3.12 it can swallow a cancel that arrives with a
        # change (CPython gh-86296), and the stream would then outlive its request.
        try:
            async with asyncio.timeout(HEARTBEAT_SECONDS):
                await subscription.changed.wait()
        except TimeoutError:
            await send_heartbeat(response)
            continue
        progress = subscription.take()
        if progress is not None:
            await send_event(response, "progress", progress_json(progress))
        finished = subscription.finished
    if finished:
        await send_event(response, "done", progress_json(await engine.progress(batch_id)))


async def _has_finished(request: web.Request, batch_id: int) -> bool:
    async with request.app[DATABASE_KEY].sessions() as session:
        finished_at = await session.scalar(select(Batch.finished_at).where(Batch.id == batch_id))
    return finished_at is not None
