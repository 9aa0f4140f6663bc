"""Log in with Discord: OAuth2 login, sign-up, and the link between an account and a Discord id.

``/login/discord`` sends the browser to Discord with a random ``state`` kept in the
session, and ``/login/discord/callback`` accepts only that state (the OAuth2 defence
against a forged callback). A logged-in user gets the Discord account linked. Anyone else
is logged in to the account with that Discord id. A Discord user new to the site confirms
age and terms on ``/login/discord/welcome`` before the account exists.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from typing import Any

from aiohttp import web

from web.accounts.mails import site_base
from web.auth import current_user, log_in, safe_next
from web.discord_login.accounts import (
    LinkRejectedError,
    complete_discord_sign_up,
    is_site_account,
    link_discord,
    user_by_discord_id,
    user_by_email,
)
from web.discord_login.client import (
    DiscordIdentity,
    DiscordLoginError,
    authorize_url,
    fetch_identity,
)
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render, visitor_consent
from web.session import loaded_session

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

CALLBACK_PATH = "/login/discord/callback"
WELCOME_PATH = "/login/discord/welcome"
SETTINGS_PATH = "/dashboard/settings"
# Session fields: the login started here, and a Discord user still to accept the terms.
_STARTED_FIELD = "discord_login"
_PENDING_FIELD = "discord_pending"
# Seconds a started login and a pending sign-up stay usable.
STATE_MAX_AGE_SECONDS = 600
PENDING_MAX_AGE_SECONDS = 900

EXPIRED_MESSAGE = (
    "This Discord login is invalid or has expired, or it was started in another browser. "
    "Start again from the log in page."
)


def setup(app: web.Application) -> None:
    """Add the Discord login routes."""
    app.router.add_routes(routes)


@routes.get("/login/discord")
async def start_discord_login(request: web.Request) -> web.Response:
    """Send the browser to Discord's authorize page with a state bound to this session."""
    settings = request.app[SETTINGS_KEY].web
    if not settings.discord_login:
        raise web.HTTPNotFound(
            text="Log in with Discord is not set up on this site. "
            "Log in with your email and password instead."
        )

    state = secrets.token_urlsafe(32)
    redirect_uri = callback_url(request)
    loaded_session(request)[_STARTED_FIELD] = {
        "state": state,
        "redirect_uri": redirect_uri,
        "next": safe_next(request.query.get("next"), ""),
        "at": int(time.time()),
    }
    raise web.HTTPFound(authorize_url(settings, redirect_uri=redirect_uri, state=state))


@routes.get(CALLBACK_PATH)
async def finish_discord_login(request: web.Request) -> web.Response:
    """Check the state, read the Discord account, then link it, log in, or ask for the terms."""
    started = _started_login(request)
    user = await current_user(request)
    back = started["next"] or (SETTINGS_PATH if user is not None else "/dashboard")

    if denied := request.query.get("error"):
        # access_denied when the user pressed Cancel on Discord's page.
        _log.info("Discord login ended on Discord's page with error %.40s", denied)
        flash(request, "Discord login was cancelled, so nothing was changed.", "error")
        raise web.HTTPFound(SETTINGS_PATH if user is not None else "/login")
    code = request.query.get("code")
    if not code:
        raise web.HTTPBadRequest(text=EXPIRED_MESSAGE)

    settings = request.app[SETTINGS_KEY].web
    try:
        identity = await fetch_identity(settings, code=code, redirect_uri=started["redirect_uri"])
    except DiscordLoginError as error:
        context = {"status": 502, "title": "Discord login failed", "message": error.user_message}
        return await render(request, "error.html", context, status=502)

    if user is not None:
        await _link(request, user.id, identity)
        raise web.HTTPFound(back)
    raise web.HTTPFound(await _log_in_or_hold(request, identity, back))


@routes.get(WELCOME_PATH)
async def show_discord_welcome(request: web.Request) -> web.Response:
    """Show the form a new Discord user fills in: 13 or older, terms and privacy policy."""
    identity = _pending_identity(request)
    return await render(request, "discord_login/welcome.html", {"identity": identity, "errors": {}})


@routes.post(WELCOME_PATH)
async def accept_discord_welcome(request: web.Request) -> web.Response:
    """Create the account once the user confirmed their age and accepted the terms."""
    identity = _pending_identity(request)
    form = await request.post()
    errors = {}
    if not form.get("age_confirmed"):
        errors["age_confirmed"] = "Confirm that you are 13 or older to use MidJAu."
    if not form.get("terms_accepted"):
        errors["terms_accepted"] = "Accept the terms and the privacy policy to create the account."
    if errors:
        context = {"identity": identity, "errors": errors}
        return await render(request, "discord_login/welcome.html", context, status=400)

    session = loaded_session(request)
    pending = session.pop(_PENDING_FIELD)
    settings = request.app[SETTINGS_KEY]
    user = await complete_discord_sign_up(
        request.app[DATABASE_KEY],
        identity,
        terms_version=settings.web.terms_version,
        consent=await visitor_consent(request),
    )
    await log_in(request, user)
    flash(request, f"Welcome to MidJAu, {identity.display_name}.", "success")
    raise web.HTTPFound(pending.get("next") or "/dashboard")


def callback_url(request: web.Request) -> str:
    """Return the callback address Discord sends the browser back to."""
    return site_base(request) + CALLBACK_PATH


def _started_login(request: web.Request) -> dict[str, Any]:
    """Return the login this session started, once; reject a callback whose state differs."""
    started = loaded_session(request).pop(_STARTED_FIELD, None)
    if isinstance(started, dict) and _state_is_valid(started, request.query.get("state", "")):
        return started
    _log.info("Discord login callback rejected: the state is missing, wrong or expired")
    raise web.HTTPBadRequest(text=EXPIRED_MESSAGE)


def _state_is_valid(started: dict[str, Any], state: str) -> bool:
    if not state or time.time() - float(started.get("at", 0)) > STATE_MAX_AGE_SECONDS:
        return False
    return hmac.compare_digest(str(started.get("state", "")).encode(), state.encode())


async def _link(request: web.Request, user_id: int, identity: DiscordIdentity) -> None:
    try:
        linked = await link_discord(request.app[DATABASE_KEY], user_id, identity)
    except LinkRejectedError as error:
        _log.info("user %s: linking a Discord account was rejected", user_id)
        flash(request, str(error), "error")
        return
    if linked:
        flash(request, f"Your Discord account {identity.username} is now linked.", "success")
    else:
        flash(request, f"Your Discord account {identity.username} was already linked.")


async def _log_in_or_hold(request: web.Request, identity: DiscordIdentity, back: str) -> str:
    """Log in the account of this Discord id, or keep the identity for the welcome form.

    Return where the browser goes next.
    """
    db = request.app[DATABASE_KEY]
    holder = await user_by_discord_id(db, identity.id)
    if holder is not None and is_site_account(holder):
        await log_in(request, holder)
        return back

    if identity.email and identity.verified:
        owner = await user_by_email(db, identity.email)
        if owner is not None and (holder is None or owner.id != holder.id):
            flash(
                request,
                f"An account with the email {identity.email} already exists. Log in with "
                "your email and password, then link Discord in Settings.",
                "error",
            )
            return "/login"

    loaded_session(request)[_PENDING_FIELD] = {
        "id": identity.id,
        "username": identity.username,
        "global_name": identity.global_name,
        "email": identity.email,
        "verified": identity.verified,
        "next": back,
        "at": int(time.time()),
    }
    return WELCOME_PATH


def _pending_identity(request: web.Request) -> DiscordIdentity:
    """Return the Discord user waiting on the welcome form, or send the browser to log in."""
    pending = loaded_session(request).get(_PENDING_FIELD)
    if (
        not isinstance(pending, dict)
        or time.time() - float(pending.get("at", 0)) > PENDING_MAX_AGE_SECONDS
    ):
        flash(request, "Your Discord login has expired. Log in with Discord again.", "error")
        raise web.HTTPFound("/login")
    return DiscordIdentity(
        id=str(pending["id"]),
        username=str(pending["username"]),
        global_name=pending.get("global_name"),
        email=pending.get("email"),
        verified=bool(pending.get("verified")),
    )
