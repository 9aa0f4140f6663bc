"""Rate limits of the settings forms, one set per app, keyed by user id."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from web.ratelimit import RateLimiter

# Tries at the current password per user in 15 minutes: a stolen session cannot guess it.
PASSWORD_TRIES = 5
PASSWORD_WINDOW_SECONDS = 15 * 60
# Email changes per user per hour: each one mails two addresses.
EMAIL_CHANGES_PER_HOUR = 5
# Support tickets per user per hour: enough for a conversation, too few to flood the operator.
TICKETS_PER_HOUR = 5


@dataclass(slots=True)
class SettingsLimits:
    """The limiters of the settings and support forms."""

    password: RateLimiter = field(
        default_factory=lambda: RateLimiter(PASSWORD_TRIES, PASSWORD_WINDOW_SECONDS)
    )
    email_change: RateLimiter = field(
        default_factory=lambda: RateLimiter(EMAIL_CHANGES_PER_HOUR, 3600)
    )
    tickets: RateLimiter = field(default_factory=lambda: RateLimiter(TICKETS_PER_HOUR, 3600))


SETTINGS_LIMITS_KEY = web.AppKey("settings_limits", SettingsLimits)


def settings_limits(request: web.Request) -> SettingsLimits:
    """Return the app's settings limiters."""
    return request.app[SETTINGS_LIMITS_KEY]
