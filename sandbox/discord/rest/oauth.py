"""OAuth2 routes: ``/oauth2/authorize``, ``POST /oauth2/token``; Bearer tokens read ``/users/@me``.

The sandbox has no browser login, so ``/oauth2/authorize`` authorizes at once as the demo
user and redirects back with a code. Two sandbox-only query parameters serve tests:
``sandbox_user_id`` authorizes as another human account of the sandbox, and
``sandbox_deny=1`` redirects as if the user pressed Cancel (``error=access_denied``).
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from sandbox.discord.oauth import AUTHORIZE_ROUTE, TOKEN_ROUTE, OAuthError
from sandbox.discord.rest.common import discord_of, json_response
from sandbox.discord.state import SandboxDiscord
from sandbox.discord.world import Account

_log = logging.getLogger(__name__)

# Token responses must not be cached (RFC 6749 section 5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def authorize(request: web.Request) -> web.Response:
    """Authorize the client for the sandbox user and redirect back with a code and the state."""
    discord = discord_of(request)
    query = request.query
    client_id = query.get("client_id", "")
    redirect_uri = query.get("redirect_uri", "")
    # Discord shows an error page, not a redirect, for an unknown client or redirect URI.
    try:
        discord.oauth.check_authorize_request(client_id, redirect_uri)
    except OAuthError as error:
        return json_response(error.body(), status=error.status)

    state = query.get("state")
    if query.get("response_type") != "code":
        raise _redirect_error(redirect_uri, state, "unsupported_response_type")
    try:
        scopes = discord.oauth.parse_scopes(query.get("scope", ""))
    except OAuthError as error:
        raise _redirect_error(redirect_uri, state, error.error) from None
    if query.get("sandbox_deny"):
        raise _redirect_error(redirect_uri, state, "access_denied")

    account = _authorizing_account(discord, query)
    code = discord.oauth.issue_code(account.id, client_id, redirect_uri, scopes)
    _log.info("sandbox OAuth2: Discord user %s authorized client %s", account.id, client_id)
    raise web.HTTPFound(_with_query(redirect_uri, {"code": code}, state))


async def token(request: web.Request) -> web.Response:
    """Exchange an authorization code or a refresh token for a Bearer access token."""
    oauth = discord_of(request).oauth
    form = await request.post()
    client_id, client_secret = _client_credentials(request, form)
    grant_type = str(form.get("grant_type", ""))
    try:
        if grant_type == "authorization_code":
            data = oauth.exchange_code(
                client_id=client_id,
                client_secret=client_secret,
                code=str(form.get("code", "")),
                redirect_uri=str(form.get("redirect_uri", "")),
            )
        elif grant_type == "refresh_token":
            data = oauth.refresh(
                client_id=client_id,
                client_secret=client_secret,
                refresh_token=str(form.get("refresh_token", "")),
            )
        else:
            raise OAuthError(
                400, "unsupported_grant_type", f"Unsupported grant_type {grant_type!r}."
            )
    except OAuthError as error:
        _log.info("sandbox OAuth2: token request rejected: %s", error.error)
        return json_response(error.body(), status=error.status, headers=NO_STORE)
    return json_response(data, headers=NO_STORE)


def _authorizing_account(discord: SandboxDiscord, query: MultiMapping[str]) -> Account:
    user_id = query.get("sandbox_user_id") or discord.settings.user_id
    account = discord.world.accounts.get(user_id)
    if account is None or account.bot:
        raise web.HTTPBadRequest(text=f"No human account {user_id} in the sandbox.")
    return account


def _client_credentials(request: web.Request, form: MultiMapping[Any]) -> tuple[str, str]:
    """Read the client's id and secret from HTTP Basic auth or, failing that, from the form."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return str(form.get("client_id", "")), str(form.get("client_secret", ""))
    try:
        decoded = base64.b64decode(header.removeprefix("Basic "), validate=True).decode()
    except ValueError:
        return "", ""
    client_id, _, client_secret = decoded.partition(":")
    return unquote_plus(client_id), unquote_plus(client_secret)


def _redirect_error(redirect_uri: str, state: str | None, error: str) -> web.HTTPFound:
    return web.HTTPFound(_with_query(redirect_uri, {"error": error}, state))


def _with_query(redirect_uri: str, params: dict[str, str], state: str | None) -> URL:
    if state is not None:
        params = params | {"state": state}
    return URL(redirect_uri).extend_query(params)


# Registered under /api, /api/v9 and /api/v10; Discord also serves the authorize page at
# the site root.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", AUTHORIZE_ROUTE, authorize),
    ("POST", TOKEN_ROUTE, token),
]
