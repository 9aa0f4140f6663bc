"""Rate limits on account forms, per client IP address and per email address."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import NoReturn

from aiohttp import web

from web.ratelimit import RateLimiter
from web.remote import client_address, rate_limit_key

_log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
# Failed logins allowed in a window. One client gets a few guesses at one address; an
# address gets more in all, so a stranger needs many failures to lock its owner out; and
# one IP gets many, so a shared office or proxy address does not lock out everyone.
FAILED_LOGINS_PER_CLIENT_AND_EMAIL = 5
FAILED_LOGINS_PER_EMAIL = 20
FAILED_LOGINS_PER_IP = 100
# A browser with a device cookie for the address is counted on its own, not per email.
FAILED_LOGINS_PER_DEVICE = 5


def _limiter(limit: int) -> RateLimiter:
    return RateLimiter(limit, WINDOW_SECONDS)


@dataclass(slots=True)
class AccountLimits:
    """The limiters of one app: each form has one per IP address and one per email."""

    failed_login_ip: RateLimiter = field(default_factory=lambda: _limiter(FAILED_LOGINS_PER_IP))
    failed_login_email: RateLimiter = field(
        default_factory=lambda: _limiter(FAILED_LOGINS_PER_EMAIL)
    )
    failed_login_ip_email: RateLimiter = field(
        default_factory=lambda: _limiter(FAILED_LOGINS_PER_CLIENT_AND_EMAIL)
    )
    failed_login_device: RateLimiter = field(
        default_factory=lambda: _limiter(FAILED_LOGINS_PER_DEVICE)
    )
    # Reset and "send the link again" both send mail, so they share these.
    mail_ip: RateLimiter = field(default_factory=lambda: _limiter(30))
    mail_email: RateLimiter = field(default_factory=lambda: _limiter(5))
    signup_ip: RateLimiter = field(default_factory=lambda: _limiter(50))


LIMITS_KEY = web.AppKey("account_limits", AccountLimits)


def check_limits(
    request: web.Request, by_ip: RateLimiter, by_email: RateLimiter | None, email: str
) -> None:
    """Count one attempt; raise 429 when the client's IP or the email is over its limit."""
    ip_allowed = by_ip.hit(rate_limit_key(client_address(request)))
    email_allowed = by_email is None or not email or by_email.hit(email)
    if not (ip_allowed and email_allowed):
        _too_many(request)


def count_login_attempt(request: web.Request, email: str, device: str | None) -> None:
    """Count a login attempt; raise 429 when too many failed lately for the client or email.

    Every attempt counts before the password is checked, so a burst of parallel guesses
    cannot slip past; a login that succeeds is taken back by ``forget_failed_logins``.
    A browser with a device cookie for the email (``device``) is counted per cookie instead
    of per email, so other clients' failures do not lock it out.
    """
    limits = request.app[LIMITS_KEY]
    ip = rate_limit_key(client_address(request))
    allowed = [limits.failed_login_ip.hit(ip)]
    if device:
        allowed.append(limits.failed_login_device.hit(device))
    elif email:
        allowed.append(limits.failed_login_email.hit(email))
        allowed.append(limits.failed_login_ip_email.hit(f"{ip} {email}"))
    if not all(allowed):
        _too_many(request)


def forget_failed_logins(request: web.Request, email: str, device: str | None) -> None:
    """After the right password: clear this client's failed logins, uncount this attempt."""
    limits = request.app[LIMITS_KEY]
    ip = rate_limit_key(client_address(request))
    limits.failed_login_ip.release(ip)
    if device:
        # Not the email's count: other clients' guesses go on counting against their limit.
        limits.failed_login_device.forget(device)
        return
    limits.failed_login_email.forget(email)
    limits.failed_login_ip_email.forget(f"{ip} {email}")


def _too_many(request: web.Request) -> NoReturn:
    _log.warning("rate limit reached for %s %s", request.method, request.path)
    raise web.HTTPTooManyRequests(
        text="Too many attempts in a short time. Wait 15 minutes, then try again.",
        headers={"Retry-After": str(WINDOW_SECONDS)},
    )
