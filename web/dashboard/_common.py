"""Small helpers the dashboard's handlers share: the user, the engine, ids from the path."""

from __future__ import annotations

from aiohttp import web

from pipeline.engine import Engine
from storage.models import User
from web.auth import current_user
from web.keys import ENGINE_KEY


async def require_user(request: web.Request) -> User:
    """Return the logged-in user; handlers behind ``login_required`` always have one."""
    user = await current_user(request)
    if user is None:
        raise web.HTTPForbidden()
    return user


def require_engine(request: web.Request) -> Engine:
    """Return the batch engine, or raise 503 when the site runs without one."""
    engine = request.app.get(ENGINE_KEY)
    if engine is None:
        raise web.HTTPServiceUnavailable(text="Batches are not available right now.")
    return engine


def path_id(request: web.Request, name: str) -> int:
    """Return a numeric id from the path; anything else is a page that does not exist."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise web.HTTPNotFound()
    return int(raw)
