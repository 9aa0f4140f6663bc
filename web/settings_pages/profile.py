"""The profile page: name, email change with re-verification, and password change."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from storage.models import EmailTokenPurpose, User
from web.accounts.mails import send_account_mail, site_url
from web.accounts.passwords import hash_password, password_problem, verify_password
from web.accounts.tokens import VERIFY_LIFETIME, expire_tokens, issue_token
from web.accounts.users import email_problem, find_user_by_email, normalize_email
from web.auth import log_in, login_required
from web.handlers import form_text, require_user
from web.keys import DATABASE_KEY
from web.render import flash, render
from web.settings_pages._limits import settings_limits

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

PAGE = "/dashboard/settings"
MAX_NAME_LENGTH = 100
TOO_MANY_TRIES = "Too many tries in a short time. Wait 15 minutes, then try again."


@routes.get(PAGE)
@login_required
async def profile_page(request: web.Request) -> web.Response:
    """Show the profile forms."""
    return await _render_page(request, await require_user(request))


@routes.post(PAGE + "/name")
@login_required
async def change_name(request: web.Request) -> web.Response:
    """Store the user's display name."""
    user = await require_user(request)
    name = form_text(await request.post(), "display_name")
    if len(name) > MAX_NAME_LENGTH:
        message = f"The name is {len(name)} characters; keep it to {MAX_NAME_LENGTH}."
        return await _render_page(request, user, status=400, errors={"display_name": message})

    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        stored = await session.get(User, user.id)
        if stored is not None:
            stored.display_name = name
    flash(request, "Name saved.", "success")
    raise web.HTTPSeeOther(PAGE)


@routes.post(PAGE + "/email")
@login_required
async def change_email(request: web.Request) -> web.Response:
    """Mail a confirmation link to the new address; the email changes only when it is opened.

    The old address gets a notice of the request. An address that belongs to another account
    gets a notice instead of a link, and the page shows the same message, so the form does
    not reveal which addresses have accounts.
    """
    user = await require_user(request)
    form = await request.post()
    new_email = normalize_email(form_text(form, "new_email"))
    errors = await _email_change_errors(request, user, new_email, _password_of(form))
    if errors:
        status = 429 if errors.get("limit") else 400
        return await _render_page(request, user, status=status, errors=errors)

    secret = None
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        owner = await find_user_by_email(session, new_email)
        if owner is None:
            await expire_tokens(session, user.id, EmailTokenPurpose.EMAIL_CHANGE)
            secret = await issue_token(
                session,
                user.id,
                EmailTokenPurpose.EMAIL_CHANGE,
                VERIFY_LIFETIME,
                new_email=new_email,
            )
    if secret is None:
        _send_address_taken(request, new_email)
    else:
        _send_change_link(request, new_email, secret)
    if user.email:
        _send_change_notice(request, user.email, new_email)
    _log.info("user %s asked to change their email address", user.id)
    flash(
        request,
        f"We sent a link to {new_email}. Your email changes when you open it "
        "(within 24 hours); until then it stays as it is.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


@routes.post(PAGE + "/password")
@login_required
async def change_password(request: web.Request) -> web.Response:
    """Change the password and log out every other session; this one stays logged in."""
    user = await require_user(request)
    form = await request.post()
    new_password = _password_of(form, "new_password")
    errors = await _password_change_errors(request, user, form, new_password)
    if errors:
        status = 429 if errors.get("limit") else 400
        return await _render_page(request, user, status=status, errors=errors)

    password_hash = await hash_password(new_password)
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        stored = await session.get(User, user.id)
        if stored is None:
            raise web.HTTPNotFound()
        stored.password_hash = password_hash
        stored.session_epoch += 1
    # A fresh session with the new epoch keeps this browser logged in.
    await log_in(request, stored)
    if stored.email:
        send_account_mail(
            request,
            stored.email,
            "Your MidJAu password was changed",
            "The password of your MidJAu account was just changed, and every other "
            "session was logged out.\n\n"
            f"If that was not you, reset your password now: {site_url(request, '/reset')}\n",
        )
    _log.info("user %s changed their password; other sessions logged out", user.id)
    flash(request, "Password changed. Every other session is logged out.", "success")
    raise web.HTTPSeeOther(PAGE)


async def _email_change_errors(
    request: web.Request, user: User, new_email: str, password: str
) -> dict[str, str]:
    problem = email_problem(new_email)
    if problem:
        return {"new_email": problem}
    if new_email == (user.email or ""):
        return {"new_email": "That is already your email address."}
    if not settings_limits(request).email_change.hit(str(user.id)):
        return {"limit": "Too many email changes in a short time. Wait an hour, then try again."}
    return await _current_password_errors(request, user, password, "email_password")


async def _password_change_errors(
    request: web.Request, user: User, form: Any, new_password: str
) -> dict[str, str]:
    problem = password_problem(new_password)
    if problem:
        return {"new_password": problem}
    if new_password != _password_of(form, "new_password_confirm"):
        return {"new_password_confirm": "The two new passwords differ. Type the same one twice."}
    return await _current_password_errors(request, user, _password_of(form))


async def _current_password_errors(
    request: web.Request, user: User, password: str, field: str = "current_password"
) -> dict[str, str]:
    # An account made with "Log in with Discord" has no password to confirm.
    if user.password_hash is None:
        return {}
    if not settings_limits(request).password.hit(str(user.id)):
        return {"limit": TOO_MANY_TRIES}
    if not await verify_password(user.password_hash, password):
        return {field: "The current password is wrong."}
    return {}


def _password_of(form: Any, name: str = "current_password") -> str:
    # Passwords keep their blanks: a space at either end is part of the password.
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _send_change_link(request: web.Request, new_email: str, secret: str) -> None:
    link = site_url(request, f"/verify/{secret}")
    send_account_mail(
        request,
        new_email,
        "Confirm your new email address for MidJAu",
        "Someone (probably you) asked to use this address for their MidJAu account.\n\n"
        f"Open this link to confirm it:\n{link}\n\n"
        "The link works once and expires in 24 hours. If you did not ask for this, "
        "ignore this mail; nothing changes.\n",
    )


def _send_address_taken(request: web.Request, new_email: str) -> None:
    send_account_mail(
        request,
        new_email,
        "This address already has a MidJAu account",
        "Someone asked to move another MidJAu account to this address, which already has "
        "an account of its own. Nothing changed.\n\n"
        "If it was you, log in to this account instead, or choose another address.\n",
    )


def _send_change_notice(request: web.Request, old_email: str, new_email: str) -> None:
    send_account_mail(
        request,
        old_email,
        "Your MidJAu email address is about to change",
        f"Someone logged in to your MidJAu account asked to change its email to {new_email}. "
        "It changes only when the link sent to that address is opened.\n\n"
        "If that was not you, change your password and log out everywhere now: "
        f"{site_url(request, PAGE)}\n",
    )


@routes.post(PAGE + "/discord/unlink")
@login_required
async def unlink_discord(request: web.Request) -> web.Response:
    """Unlink the user's Discord account, unless Discord is how they log in."""
    user = await require_user(request)
    if user.discord_user_id is None:
        flash(request, "No Discord account is linked.", "info")
        raise web.HTTPSeeOther(PAGE)
    if not can_log_in_without_discord(user):
        flash(
            request,
            "This account logs in with Discord. Set a password and a verified email "
            "address first, so you can still log in after unlinking.",
            "error",
        )
        raise web.HTTPSeeOther(PAGE)

    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        stored = await session.get(User, user.id)
        if stored is not None:
            stored.discord_user_id = None
    _log.info("user %s unlinked their Discord account", user.id)
    flash(
        request,
        "Discord is unlinked. The MidJAu bot no longer runs that Discord user's commands "
        "with this account; link it again here, or link another one.",
        "success",
    )
    raise web.HTTPSeeOther(PAGE)


def can_log_in_without_discord(user: User) -> bool:
    """Return whether the user can log in with email and password."""
    return user.password_hash is not None and user.email_verified_at is not None


async def _render_page(
    request: web.Request,
    user: User,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
) -> web.Response:
    context: dict[str, Any] = {
        "section": "profile",
        "errors": errors or {},
        "has_password": user.password_hash is not None,
        "can_unlink": can_log_in_without_discord(user),
        "max_name_length": MAX_NAME_LENGTH,
    }
    return await render(request, "settings/profile.html", context, status=status)
