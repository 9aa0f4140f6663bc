"""Small thumbnails of a batch's result images, for the batch page."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections import OrderedDict

from aiohttp import web
from PIL import Image as PILImage

from web.auth import login_required
from web.dashboard._queries import owned_image
from web.handlers import require_owned
from web.keys import BLOBS_KEY

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

THUMBNAIL_PIXELS = 256
# Thumbnails kept in memory; about 10-20 KiB each, so a few MiB at most.
CACHED_THUMBNAILS = 256
# A stored image never changes under its id, so the browser may keep its thumbnail a day.
CACHE_CONTROL = "private, max-age=86400"


class ThumbnailCache:
    """The most recently served thumbnails by blob key, oldest dropped first.

    Keys are blob keys and not image ids: SQLite may give a deleted image's id to a new
    image, but a blob key names its job's random id.
    """

    def __init__(self, size: int = CACHED_THUMBNAILS) -> None:
        self.size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: str, data: bytes) -> None:
        self._items[key] = data
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


THUMBNAILS_KEY = web.AppKey("dashboard_thumbnails", ThumbnailCache)


async def make_thumbnail(data: bytes) -> bytes:
    """Shrink an image to fit a square of THUMBNAIL_PIXELS, as JPEG, in a thread."""
    return await asyncio.to_thread(_thumbnail_bytes, data)


def _thumbnail_bytes(data: bytes) -> bytes:
    with PILImage.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


@routes.get("/dashboard/images/{image_id}/thumbnail")
@login_required
async def image_thumbnail(request: web.Request) -> web.Response:
    """Serve a thumbnail of one of the user's result images."""
    _, image = await require_owned(request, "image_id", owned_image)
    image_id, blob_key = image.id, image.blob_key

    etag = f'"{hashlib.sha256(blob_key.encode()).hexdigest()[:24]}"'
    headers = {"Cache-Control": CACHE_CONTROL, "ETag": etag}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)

    cache = request.app[THUMBNAILS_KEY]
    thumbnail = cache.get(blob_key)
    if thumbnail is None:
        blobs = request.app[BLOBS_KEY]
        # Retention may have deleted the file while the row is still shown.
        if not await blobs.exists(blob_key):
            raise web.HTTPNotFound()
        try:
            thumbnail = await make_thumbnail(await blobs.read(blob_key))
        except OSError:
            log.warning("image %s: blob %s is not a readable image", image_id, blob_key)
            raise web.HTTPNotFound() from None
        cache.put(blob_key, thumbnail)
    return web.Response(body=thumbnail, content_type="image/jpeg", headers=headers)
