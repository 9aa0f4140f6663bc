"""Rate limits on account forms, per client IP address and per email address."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from aiohttp import web

from web.ratelimit import RateLimiter

_log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60


@dataclass(slots=True)
class AccountLimits:
    """The limiters of one app: each form has one per IP address and one per email."""

    login_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, WINDOW_SECONDS))
    login_email: RateLimiter = field(default_factory=lambda: RateLimiter(5, WINDOW_SECONDS))
    # Reset and "send the link again" both send mail, so they share these.
    mail_ip: RateLimiter = field(default_factory=lambda: RateLimiter(10, WINDOW_SECONDS))
    mail_email: RateLimiter = field(default_factory=lambda: RateLimiter(5, WINDOW_SECONDS))
    signup_ip: RateLimiter = field(default_factory=lambda: RateLimiter(20, WINDOW_SECONDS))


LIMITS_KEY = web.AppKey("account_limits", AccountLimits)


def check_limits(
    request: web.Request, by_ip: RateLimiter, by_email: RateLimiter | None, email: str
) -> None:
    """Count one attempt; raise 429 when the client's IP or the email is over its limit."""
    # request.remote is the TCP peer; behind a proxy every client shares the proxy's IP.
    ip_allowed = by_ip.hit(request.remote or "unknown")
    email_allowed = by_email is None or not email or by_email.hit(email)
    if ip_allowed and email_allowed:
        return
    _log.warning("rate limit reached for %s %s", request.method, request.path)
    raise web.HTTPTooManyRequests(
        text="Too many attempts in a short time. Wait 15 minutes, then try again.",
        headers={"Retry-After": str(WINDOW_SECONDS)},
    )
