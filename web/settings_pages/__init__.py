"""Settings pages: profile, Discord connections (with Disconnect), and support tickets."""

from __future__ import annotations

from aiohttp import web

from web.settings_pages import connections, profile, support
from web.settings_pages._limits import SETTINGS_LIMITS_KEY, SettingsLimits


def setup(app: web.Application) -> None:
    """Add the routes of the settings and support pages, and their rate limits."""
    app[SETTINGS_LIMITS_KEY] = SettingsLimits()
    app.router.add_routes(profile.routes)
    app.router.add_routes(connections.routes)
    app.router.add_routes(support.routes)
