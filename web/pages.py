"""The home page and the account pages (sign up, log in, log out, password reset)."""

from __future__ import annotations

from aiohttp import web

from web.accounts import login, reset, signup
from web.accounts.limits import LIMITS_KEY, AccountLimits
from web.render import render

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    """Show what MidJAu does, with the way in for visitors and the way on for users."""
    return await render(request, "home.html", {})


def setup(app: web.Application) -> None:
    """Add the home and account routes, with the account forms' rate limits."""
    app[LIMITS_KEY] = AccountLimits()
    app.router.add_routes(routes)
    for module in (signup, login, reset):
        app.router.add_routes(module.routes)
