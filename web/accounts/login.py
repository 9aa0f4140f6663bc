"""Log in, log out, and log out everywhere."""

from __future__ import annotations

import logging

from aiohttp import web

from storage.models import User
from web.accounts.devices import issue_device_cookie, known_device
from web.accounts.limits import count_login_attempt, forget_failed_logins
from web.accounts.passwords import hash_password, needs_rehash, verify_password
from web.accounts.users import find_user_by_email, normalize_email
from web.auth import current_user, log_in, log_out, log_out_everywhere, login_required, safe_next
from web.keys import DATABASE_KEY
from web.render import flash, render

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

WRONG_CREDENTIALS = "The email address or the password is wrong."
UNVERIFIED = (
    "Your email address is not verified yet. Open the link in the mail we sent you, "
    "or send the link again below."
)


@routes.get("/login")
async def show_login(request: web.Request) -> web.Response:
    """Show the login form; a logged-in user goes on to where they were heading."""
    target = safe_next(request.query.get("next"))
    if await current_user(request) is not None:
        raise web.HTTPSeeOther(target)
    return await render(request, "accounts/login.html", _context("", target))


def _context(
    email: str, target: str, error: str = "", unverified: bool = False
) -> dict[str, object]:
    return {"email": email, "next": target, "error": error, "unverified": unverified}


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    """Check the email and password, then start a new session."""
    form = await request.post()
    email = normalize_email(str(form.get("email", "")))
    password = str(form.get("password", ""))
    target = safe_next(str(form.get("next", "")) or None)
    async with request.app[DATABASE_KEY].sessions() as session:
        user = await find_user_by_email(session, email) if email else None
    device = known_device(request, user)
    count_login_attempt(request, email, device)

    password_hash = user.password_hash if user is not None else None
    if not await verify_password(password_hash, password) or user is None:
        _log.info("failed login for user %s", user.id if user else "(unknown address)")
        context = _context(email, target, WRONG_CREDENTIALS)
        return await render(request, "accounts/login.html", context, status=401)
    forget_failed_logins(request, email, device)
    if user.email_verified_at is None:
        context = _context(email, target, UNVERIFIED, unverified=True)
        return await render(request, "accounts/login.html", context, status=403)

    if needs_rehash(password_hash or ""):
        await _store_new_hash(request, user, password)
    await log_in(request, user)
    redirect = web.HTTPSeeOther(target)
    # The user as logged in, with the session epoch that logging in may have raised.
    issue_device_cookie(request, redirect, await current_user(request) or user)
    raise redirect


async def _store_new_hash(request: web.Request, user: User, password: str) -> None:
    new_hash = await hash_password(password)
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        stored = await session.get(User, user.id)
        if stored is not None:
            stored.password_hash = new_hash


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    """End this browser's session."""
    await log_out(request)
    flash(request, "You are logged out.", "success")
    raise web.HTTPSeeOther("/")


@routes.post("/logout/everywhere")
@login_required
async def logout_everywhere(request: web.Request) -> web.Response:
    """End every session of the user, in every browser."""
    user = await current_user(request)
    assert user is not None  # login_required
    await log_out_everywhere(request, user)
    flash(request, "You are logged out on every device.", "success")
    raise web.HTTPSeeOther("/login")
