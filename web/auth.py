"""Login sessions: reading the current user, logging in and logging out."""

from __future__ import annotations

import functools
import logging
import secrets
import time
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import new_session

from storage.models import User, utcnow
from web.csrf import AnyHandler, csrf_token
from web.keys import DATABASE_KEY
from web.session import loaded_session

_log = logging.getLogger(__name__)

_USER_KEY: web.RequestKey[User | None] = web.RequestKey("midjau_user")
# Seconds between rewrites of a logged-in cookie, which restart its lifetime.
_REFRESH_SECONDS = 3600


async def current_user(request: web.Request) -> User | None:
    """Return the logged-in user, or None; a session from an older epoch counts as none."""
    if _USER_KEY in request:
        return request[_USER_KEY]

    user = await _load_user(request)
    request[_USER_KEY] = user
    return user


async def _load_user(request: web.Request) -> User | None:
    session = loaded_session(request)
    user_id = session.get("uid")
    if not isinstance(user_id, int):
        return None
    async with request.app[DATABASE_KEY].sessions() as db_session:
        user = await db_session.get(User, user_id)
    if user is None or session.get("epoch") != user.session_epoch:
        # Deleted, or logged out everywhere since this cookie was made.
        session.invalidate()
        return None

    # Rewrite the cookie now and then, so an active login does not expire.
    if time.time() - float(session.get("seen", 0)) > _REFRESH_SECONDS:
        session["seen"] = int(time.time())
    return user


def login_required(handler: AnyHandler) -> AnyHandler:
    """Run the handler only for a logged-in user.

    Anyone else is sent to the login page (GET, HEAD) or gets 403 (other methods).
    """

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        if await current_user(request) is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPFound(f"/login?next={quote(request.path_qs, safe='')}")
            raise web.HTTPForbidden(text="Log in to do this.")
        return await handler(request)

    return guarded


async def log_in(request: web.Request, user: User) -> None:
    """Start a new session for ``user``: new cookie contents and CSRF token, stored epoch."""
    session = await new_session(request)
    session["sid"] = secrets.token_urlsafe(16)
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["seen"] = int(time.time())
    csrf_token(request)

    async with request.app[DATABASE_KEY].sessions() as db_session, db_session.begin():
        stored = await db_session.get(User, user.id)
        if stored is not None:
            stored.last_login_at = utcnow()
    request[_USER_KEY] = user
    _log.info("user %s logged in", user.id)


async def log_out(request: web.Request) -> None:
    """End this browser's session (the cookie is cleared)."""
    user = await current_user(request)
    loaded_session(request).invalidate()
    request[_USER_KEY] = None
    if user is not None:
        _log.info("user %s logged out", user.id)


async def log_out_everywhere(request: web.Request, user: User) -> None:
    """End every session of ``user`` in every browser, this one included."""
    async with request.app[DATABASE_KEY].sessions() as db_session, db_session.begin():
        stored = await db_session.get(User, user.id)
        if stored is not None:
            stored.session_epoch += 1
    await log_out(request)
    _log.info("user %s logged out everywhere", user.id)


def safe_next(target: str | None, default: str = "/dashboard") -> str:
    """Return ``target`` if it is a path on this site, else ``default`` (no open redirects)."""
    if not target or not target.startswith("/") or "\\" in target:
        return default
    # Browsers drop tabs and line breaks inside URLs, so "/\t/evil" would become "//evil".
    # In a Location header they also make aiohttp raise instead of answering. Only
    # printable ASCII is kept, so no Unicode space or separator can play the same trick.
    if not all(" " < char < "\x7f" for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return default
    return target
