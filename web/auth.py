"""Login sessions: reading the current user, logging in and logging out."""

from __future__ import annotations

import functools
import logging
import secrets
import time
from datetime import timedelta
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import new_session
from sqlalchemy import delete, func, select

from storage.db import Database
from storage.models import EndedSession, User, utcnow
from web.csrf import AnyHandler, csrf_token
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.session import loaded_session

_log = logging.getLogger(__name__)

_USER_KEY: web.RequestKey[User | None] = web.RequestKey("midjau_user")
# Ended sessions kept per user. One more ends all the user's sessions instead, so that a
# client that logs in and out in a loop cannot grow the table without bound.
MAX_ENDED_SESSIONS_PER_USER = 100
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
    session_id = session.get("sid")
    async with request.app[DATABASE_KEY].sessions() as db_session:
        user = await db_session.get(User, user_id)
        ended = isinstance(session_id, str) and (
            await db_session.get(EndedSession, session_id) is not None
        )
    if (
        user is None
        or ended
        or session.get("epoch") != user.session_epoch
        or session.get("account") != account_stamp(user)
    ):
        # Deleted, logged out (this is a copy of the cookie), logged out everywhere, or a
        # later account that got a deleted account's id.
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


def account_stamp(user: User) -> int:
    """Return the account's creation time in microseconds.

    The database never hands out an id twice, but a restored backup can give a later
    account a deleted one's id. The stamp differs, so the old cookie still fails.
    """
    return round(user.created_at.timestamp() * 1_000_000)


async def log_in(request: web.Request, user: User) -> None:
    """Start a new session for ``user``: new cookie contents and CSRF token, stored epoch.

    A session this browser had before ends, so copies of its cookie stop working too.
    """
    previous = loaded_session(request)
    previous_id, previous_user = previous.get("sid"), previous.get("uid")
    if isinstance(previous_id, str) and isinstance(previous_user, int):
        await _record_ended(request, previous_user, previous_id)
    async with request.app[DATABASE_KEY].sessions() as db_session, db_session.begin():
        stored = await db_session.get(User, user.id)
        if stored is not None:
            stored.last_login_at = utcnow()
            user = stored  # with the epoch that ending the previous session may have raised

    session = await new_session(request)
    session["sid"] = secrets.token_urlsafe(16)
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["account"] = account_stamp(user)
    session["seen"] = int(time.time())
    csrf_token(request)
    request[_USER_KEY] = user
    _log.info("user %s logged in", user.id)


async def log_out(request: web.Request) -> None:
    """End this browser's session: clear the cookie, and reject any copy of it from now on."""
    user = await current_user(request)
    session = loaded_session(request)
    session_id = session.get("sid")
    if user is not None and isinstance(session_id, str):
        await _record_ended(request, user.id, session_id)
    session.invalidate()
    request[_USER_KEY] = None
    if user is not None:
        _log.info("user %s logged out", user.id)


async def _record_ended(request: web.Request, user_id: int, session_id: str) -> None:
    # A copy of the cookie could stay valid until its lifetime from now ends, no longer.
    lifetime = timedelta(days=request.app[SETTINGS_KEY].web.session_days)
    async with request.app[DATABASE_KEY].sessions() as db_session, db_session.begin():
        user = await db_session.get(User, user_id)
        if user is None:
            return  # a deleted account's sessions ended with it
        stored = await db_session.scalar(
            select(func.count()).where(EndedSession.user_id == user_id)
        )
        if (stored or 0) >= MAX_ENDED_SESSIONS_PER_USER:
            # Raising the epoch ends every session of the user, so the ids can go.
            user.session_epoch += 1
            await db_session.execute(delete(EndedSession).where(EndedSession.user_id == user_id))
            _log.info("user %s reached %d ended sessions; all sessions ended", user_id, stored)
            return
        ended = EndedSession(session_id=session_id, user_id=user_id, expires_at=utcnow() + lifetime)
        await db_session.merge(ended)


async def forget_expired_sessions(db: Database) -> int:
    """Delete the ended sessions whose cookies have all expired; return how many."""
    async with db.sessions() as db_session, db_session.begin():
        result = await db_session.execute(
            delete(EndedSession).where(EndedSession.expires_at < utcnow())
        )
    return int(getattr(result, "rowcount", 0) or 0)


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
