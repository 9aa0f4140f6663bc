"""Forgotten password: the reset request and the mailed one-time link."""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import EmailToken, EmailTokenPurpose, User, utcnow
from web.accounts.limits import LIMITS_KEY, check_limits
from web.accounts.mails import send_reset
from web.accounts.passwords import hash_password, password_problem
from web.accounts.tokens import RESET_LIFETIME, expire_tokens, find_token, issue_token, use_token
from web.accounts.users import email_problem, find_user_by_email, normalize_email
from web.keys import DATABASE_KEY
from web.render import flash, render

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()

_RESET = (EmailTokenPurpose.RESET,)


@routes.get("/reset")
async def show_reset_request(request: web.Request) -> web.Response:
    """Show the form that requests a reset link by mail."""
    return await render(request, "accounts/reset_request.html", {"email": "", "error": ""})


@routes.post("/reset")
async def request_reset(request: web.Request) -> web.Response:
    """Mail a reset link if the account exists; the page is the same either way."""
    form = await request.post()
    email = normalize_email(str(form.get("email", "")))
    problem = email_problem(email)
    if problem:
        context = {"email": email, "error": problem}
        return await render(request, "accounts/reset_request.html", context, status=400)
    limits = request.app[LIMITS_KEY]
    check_limits(request, limits.mail_ip, limits.mail_email, email)

    secret = None
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        user = await find_user_by_email(session, email)
        if user is not None:
            # Only the newest link works.
            await expire_tokens(session, user.id, EmailTokenPurpose.RESET)
            secret = await issue_token(session, user.id, EmailTokenPurpose.RESET, RESET_LIFETIME)
            _log.info("password reset requested for user %s", user.id)
    if secret is not None:
        send_reset(request, email, secret)
    return await render(request, "accounts/reset_sent.html", {"email": email})


@routes.get("/reset/{token}")
async def show_reset_form(request: web.Request) -> web.Response:
    """Show the new-password form for a valid link."""
    async with request.app[DATABASE_KEY].sessions() as session:
        token = await find_token(session, request.match_info["token"], _RESET)
    if token is None:
        return await _invalid_link(request)
    return await render(request, "accounts/reset_form.html", {"error": ""})


@routes.post("/reset/{token}")
async def reset_password(request: web.Request) -> web.Response:
    """Set the new password, use up the link, and end every session of the account."""
    form = await request.post()
    password = str(form.get("password", ""))
    problem = password_problem(password)
    if problem:
        return await render(request, "accounts/reset_form.html", {"error": problem}, status=400)
    password_hash = await hash_password(password)

    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        token = await find_token(session, request.match_info["token"], _RESET)
        if token is None or not await use_token(session, token):
            return await _invalid_link(request)
        user_id = await _set_password(session, token, password_hash)

    _log.info("user %s reset their password", user_id)
    flash(request, "Your password is changed. Log in with the new password.", "success")
    raise web.HTTPSeeOther("/login")


async def _set_password(session: AsyncSession, token: EmailToken, password_hash: str) -> int:
    user = await session.get(User, token.user_id)
    assert user is not None  # the token row is deleted with its user
    user.password_hash = password_hash
    # The mail reached its owner, so the address is verified too.
    user.email_verified_at = user.email_verified_at or utcnow()
    # Log out every session, including any opened with the old password.
    user.session_epoch += 1
    return user.id


async def _invalid_link(request: web.Request) -> web.Response:
    message = (
        "This password reset link is invalid, was already used, or has expired. Ask for a new one."
    )
    return await render(
        request, "accounts/link_invalid.html", {"message": message, "reset": True}, status=400
    )
