"""The dashboard: upload sheets, follow batches live, cancel, retry and download them.

Batches started here and in Discord are the same rows run by the same engine, so each
surface lists the other's batches. Every route looks objects up by the logged-in user's
id and returns 404 for anything that user does not own.
"""

from __future__ import annotations

from aiohttp import web

from web.dashboard._batch import routes as batch_routes
from web.dashboard._events import ProgressHub
from web.dashboard._stream import HUB_KEY
from web.dashboard._stream import routes as stream_routes
from web.dashboard._thumbnails import THUMBNAILS_KEY, ThumbnailCache
from web.dashboard._thumbnails import routes as thumbnail_routes
from web.dashboard._upload import routes as upload_routes
from web.keys import ENGINE_KEY

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the dashboard's routes, and listen to the engine for live progress."""
    hub = ProgressHub()
    app[HUB_KEY] = hub
    app[THUMBNAILS_KEY] = ThumbnailCache()
    engine = app.get(ENGINE_KEY)
    # The engine keeps its listeners for its lifetime, so one hub per app listens.
    if engine is not None:
        engine.add_listener(hub)

    async def end_event_streams(app: web.Application) -> None:
        hub.close()

    app.on_shutdown.append(end_event_streams)
    for routes in (upload_routes, batch_routes, stream_routes, thumbnail_routes):
        app.add_routes(routes)
