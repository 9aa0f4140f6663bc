"""Helpers the settings and support pages share: the user, the engine, ids, form fields."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from pipeline.engine import Engine
from storage.models import User
from web.auth import current_user
from web.keys import ENGINE_KEY

# Maximum digits of an id read from a path: a longer number cannot be a row id.
MAX_ID_DIGITS = 18


async def require_user(request: web.Request) -> User:
    """Return the logged-in user; handlers behind ``login_required`` always have one."""
    user = await current_user(request)
    if user is None:
        raise web.HTTPForbidden(text="Log in to do this.")
    return user


def require_engine(request: web.Request) -> Engine:
    """Return the batch engine, or raise 503 when the site runs without one."""
    engine = request.app.get(ENGINE_KEY)
    if engine is None:
        raise web.HTTPServiceUnavailable(text="Discord connections are not available right now.")
    return engine


def path_id(request: web.Request, name: str) -> int:
    """Return a numeric id from the path; anything else is a page that does not exist."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise web.HTTPNotFound()
    return int(raw)


def form_text(form: Mapping[str, object], name: str) -> str:
    """Return a form field's text without surrounding blanks; "" when missing or a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
