"""The texts of account mails and the site links in them."""

from __future__ import annotations

from aiohttp import web

from web.keys import MAILER_KEY, SETTINGS_KEY
from web.mail import send_later


def site_url(request: web.Request, path: str) -> str:
    """Return an absolute link to ``path`` on this site, for a mail."""
    return site_base(request) + path


def site_base(request: web.Request) -> str:
    """Return the site's address: the public URL, else the address it listens on.

    Never the request's Host header: a client sets it, and a password-reset mail whose
    link pointed at the client's host would hand it the victim's token.
    """
    settings = request.app[SETTINGS_KEY].web
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = settings.host if settings.host not in WILDCARD_HOSTS else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    port = sockname[1] if sockname else settings.port
    return f"http://{host}:{port}"


# Addresses that mean "every interface"; a link needs one a browser can open.
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound


def send_account_mail(request: web.Request, to: str, subject: str, body: str) -> None:
    """Send an account mail in the background (see ``web.mail.send_later``)."""
    send_later(request.app, request.app[MAILER_KEY], to, subject, body)


def send_verification(request: web.Request, to: str, secret: str) -> None:
    """Mail the link that verifies a new account's address (valid 24 hours)."""
    link = site_url(request, f"/verify/{secret}")
    send_account_mail(
        request,
        to,
        "Confirm your email address for MidJAu",
        "Welcome to MidJAu.\n\n"
        f"Open this link to confirm your email address:\n{link}\n\n"
        "The link works once and expires in 24 hours. "
        "If you did not sign up, ignore this mail and no account will be used.\n",
    )


def send_already_registered(request: web.Request, to: str) -> None:
    """Tell the owner of an address that someone tried to sign up with it again."""
    send_account_mail(
        request,
        to,
        "You already have a MidJAu account",
        "Someone (probably you) tried to sign up to MidJAu with this address, "
        "which already has an account.\n\n"
        f"Log in: {site_url(request, '/login')}\n"
        f"Forgot your password? Reset it: {site_url(request, '/reset')}\n\n"
        "If it was not you, ignore this mail; your account is unchanged.\n",
    )


def send_reset(request: web.Request, to: str, secret: str) -> None:
    """Mail the password reset link (valid one hour)."""
    link = site_url(request, f"/reset/{secret}")
    send_account_mail(
        request,
        to,
        "Reset your MidJAu password",
        f"Open this link to choose a new password:\n{link}\n\n"
        "The link works once and expires in one hour. "
        "If you did not ask for it, ignore this mail; your password is unchanged.\n",
    )
