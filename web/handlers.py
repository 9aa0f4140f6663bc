"""Steps that many route handlers begin with: the user, the engine, owned objects, form fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.engine import Engine
from storage.models import User
from web.auth import current_user
from web.keys import DATABASE_KEY, ENGINE_KEY

# Maximum digits of an id read from a path: a longer number cannot be a row id.
MAX_ID_DIGITS = 18

Owned = TypeVar("Owned")
# Looks an object up by (session, object id, owner's user id); None when it is not theirs.
OwnedLookup = Callable[[AsyncSession, int, int], Awaitable[Owned | None]]


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
        raise web.HTTPServiceUnavailable(
            text="Batches and Discord connections are not available right now."
        )
    return engine


def path_id(request: web.Request, name: str) -> int:
    """Return a numeric id from the path; anything else is a page that does not exist."""
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > MAX_ID_DIGITS:
        raise web.HTTPNotFound()
    return int(raw)


async def require_owned(
    request: web.Request, name: str, lookup: OwnedLookup[Owned]
) -> tuple[User, Owned]:
    """Return the logged-in user and their object named by the path's id ``name``.

    Raise 404 when the object does not exist or belongs to someone else, so other users
    cannot learn which ids exist. The object is detached: read only its loaded columns.
    """
    user = await require_user(request)
    object_id = path_id(request, name)
    async with request.app[DATABASE_KEY].sessions() as session:
        found = await lookup(session, object_id, user.id)
    if found is None:
        raise web.HTTPNotFound()
    return user, found


def form_text(form: Mapping[str, object], name: str) -> str:
    """Return a form field's text without surrounding blanks; "" when missing or a file."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
