"""Sign-up, email verification and sending the verification link again."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError

from storage.models import EmailTokenPurpose, User, utcnow
from web.accounts.limits import LIMITS_KEY, check_limits
from web.accounts.mails import send_already_registered, send_verification
from web.accounts.passwords import hash_password, password_problem
from web.accounts.tokens import VERIFY_LIFETIME, expire_tokens, find_token, issue_token, use_token
from web.accounts.users import create_account, email_problem, find_user_by_email, normalize_email
from web.keys import DATABASE_KEY, SETTINGS_KEY
from web.render import flash, render, visitor_consent

_log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/signup")
async def show_signup(request: web.Request) -> web.Response:
    """Show the sign-up form."""
    return await render(request, "accounts/signup.html", {"email": "", "errors": {}})


@routes.post("/signup")
async def signup(request: web.Request) -> web.Response:
    """Create an account and mail its verification link; the same page for a known address."""
    form = await request.post()
    email = normalize_email(str(form.get("email", "")))
    password = str(form.get("password", ""))
    errors = _signup_errors(email, password, form)
    if errors:
        context = {"email": email, "errors": errors}
        return await render(request, "accounts/signup.html", context, status=400)
    check_limits(request, request.app[LIMITS_KEY].signup_ip, None, email)

    password_hash = await hash_password(password)
    user_id = await _create_or_notify(request, email, password_hash)
    if user_id is not None:
        _log.info("user %s signed up; verification mail sent", user_id)
    return await render(request, "accounts/signup_done.html", {"email": email})


def _signup_errors(email: str, password: str, form: Any) -> dict[str, str]:
    errors = {"email": email_problem(email), "password": password_problem(password)}
    if form.get("age_confirmed") != "on":
        errors["age_confirmed"] = "You must be 13 or older to use MidJAu."
    if form.get("terms_accepted") != "on":
        errors["terms_accepted"] = "Accept the terms and the privacy policy to sign up."
    return {field: text for field, text in errors.items() if text}


async def _create_or_notify(request: web.Request, email: str, password_hash: str) -> int | None:
    """Create the account and mail its link; for a known address, mail its owner instead."""
    settings = request.app[SETTINGS_KEY]
    consent = await visitor_consent(request)
    secret: str | None = None
    async with request.app[DATABASE_KEY].sessions() as session:
        try:
            async with session.begin():
                existing = await find_user_by_email(session, email)
                if existing is None:
                    user = await create_account(
                        session,
                        email=email,
                        password_hash=password_hash,
                        terms_version=settings.web.terms_version,
                        consent=consent,
                    )
                    secret = await issue_token(
                        session, user.id, EmailTokenPurpose.VERIFY, VERIFY_LIFETIME
                    )
                elif existing.email_verified_at is None and existing.password_hash:
                    secret = await issue_token(
                        session, existing.id, EmailTokenPurpose.VERIFY, VERIFY_LIFETIME
                    )
        except IntegrityError:
            # Another sign-up with this address won the race: treat it as known.
            secret = None
            existing = await find_user_by_email(session, email)
    if secret is None:
        send_already_registered(request, email)
        return None
    send_verification(request, email, secret)
    return user.id if existing is None else None


@routes.get("/verify/{token}")
async def verify(request: web.Request) -> web.StreamResponse:
    """Confirm an address from the mailed link: a new account's, or a changed email."""
    purposes = (EmailTokenPurpose.VERIFY, EmailTokenPurpose.EMAIL_CHANGE)
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        token = await find_token(session, request.match_info["token"], purposes)
        if token is None or not await use_token(session, token):
            return await _invalid_link(request)
        user = await session.get(User, token.user_id)
        assert user is not None  # the token row is deleted with its user
        if token.purpose == EmailTokenPurpose.EMAIL_CHANGE:
            if not await _apply_email_change(session, user, token.new_email):
                return await _invalid_link(request, taken=True)
        user.email_verified_at = user.email_verified_at or utcnow()
        user_id, purpose = user.id, token.purpose

    _log.info("user %s confirmed an email address (%s)", user_id, purpose)
    if purpose == EmailTokenPurpose.EMAIL_CHANGE:
        flash(request, "Your new email address is confirmed.", "success")
        raise web.HTTPSeeOther("/dashboard/settings")
    flash(request, "Your email address is confirmed. You can log in now.", "success")
    raise web.HTTPSeeOther("/login")


async def _apply_email_change(session: Any, user: User, new_email: str | None) -> bool:
    if not new_email:
        return False
    owner = await find_user_by_email(session, new_email)
    if owner is not None and owner.id != user.id:
        return False
    user.email = normalize_email(new_email)
    user.email_verified_at = utcnow()
    return True


async def _invalid_link(request: web.Request, *, taken: bool = False) -> web.Response:
    message = (
        "That email address now belongs to another account."
        if taken
        else "This link is invalid, was already used, or has expired."
    )
    return await render(request, "accounts/link_invalid.html", {"message": message}, status=400)


@routes.post("/verify/resend")
async def resend_verification(request: web.Request) -> web.Response:
    """Mail a new verification link to an unverified account; the same answer for any address."""
    form = await request.post()
    email = normalize_email(str(form.get("email", "")))
    limits = request.app[LIMITS_KEY]
    check_limits(request, limits.mail_ip, limits.mail_email, email)

    secret = None
    async with request.app[DATABASE_KEY].sessions() as session, session.begin():
        user = await find_user_by_email(session, email) if email else None
        if user is not None and user.email_verified_at is None and user.password_hash:
            await expire_tokens(session, user.id, EmailTokenPurpose.VERIFY)
            secret = await issue_token(session, user.id, EmailTokenPurpose.VERIFY, VERIFY_LIFETIME)
    if secret is not None:
        send_verification(request, email, secret)
    return await render(request, "accounts/signup_done.html", {"email": email, "resent": True})
