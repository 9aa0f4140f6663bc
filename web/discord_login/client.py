"""Discord's side of "Log in with Discord": the authorize URL, the code exchange, ``users/@me``.

The authorization code grant as Discord documents it: the browser goes to
``{base}/oauth2/authorize``, comes back with a one-time ``code``, and the site exchanges it
at ``{base}/api/v10/oauth2/token`` for a Bearer token that reads ``/users/@me``. The token
is used for that one read and then dropped. Neither the code nor the token is ever logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from midjau.settings import WebSettings

_log = logging.getLogger(__name__)

SCOPES = "identify email"
# Total seconds for the calls to Discord, so a hung Discord cannot block the login page.
REQUEST_TIMEOUT_SECONDS = 10.0
UNAVAILABLE_MESSAGE = (
    "Discord did not answer the login request. Try again in a minute, "
    "or log in with your email and password."
)
REJECTED_MESSAGE = (
    "Discord did not accept this login; it may have expired or been used already. "
    "Start again from the log in page."
)


class DiscordLoginError(Exception):
    """The code exchange or the profile read failed; ``user_message`` is safe to show."""

    def __init__(self, user_message: str, detail: str) -> None:
        super().__init__(detail)
        self.user_message = user_message


@dataclass(frozen=True, slots=True)
class DiscordIdentity:
    """The Discord account that authorized the login, as ``users/@me`` returned it."""

    id: str
    username: str
    global_name: str | None
    email: str | None
    verified: bool

    @property
    def display_name(self) -> str:
        return self.global_name or self.username


def authorize_url(settings: WebSettings, *, redirect_uri: str, state: str) -> str:
    """Return the Discord authorize page that sends the browser back with a code."""
    query = {
        "client_id": settings.discord_client_id or "",
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": SCOPES,
        "state": state,
        # "none" skips Discord's consent screen for a user who already authorized MidJAu.
        "prompt": "none",
    }
    return str(URL(_base(settings) + "/oauth2/authorize").with_query(query))


async def fetch_identity(settings: WebSettings, *, code: str, redirect_uri: str) -> DiscordIdentity:
    """Exchange ``code`` for an access token and read the Discord account it belongs to."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            access_token = await _exchange_code(http, settings, code, redirect_uri)
            profile = await _read_profile(http, settings, access_token)
    except (aiohttp.ClientError, TimeoutError) as error:
        _log.warning(
            "Discord login: the request to Discord failed: %s %s", type(error).__name__, error
        )
        raise DiscordLoginError(UNAVAILABLE_MESSAGE, type(error).__name__) from None
    return _identity(profile)


async def _exchange_code(
    http: aiohttp.ClientSession, settings: WebSettings, code: str, redirect_uri: str
) -> str:
    secret = settings.discord_client_secret
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": settings.discord_client_id or "",
        "client_secret": secret.get_secret_value() if secret is not None else "",
    }
    url = _base(settings) + "/api/v10/oauth2/token"
    async with http.post(url, data=form, headers={"Accept": "application/json"}) as response:
        body = await _json_body(response)
        if response.status != 200:
            # Only the OAuth2 error code is logged. An error body contains no token.
            error = body.get("error") if isinstance(body, dict) else None
            _log.warning("Discord login: token exchange failed with %s %s", response.status, error)
            message = REJECTED_MESSAGE if 400 <= response.status < 500 else UNAVAILABLE_MESSAGE
            raise DiscordLoginError(message, f"token exchange {response.status} {error}")
    access_token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(access_token, str) or not access_token:
        _log.warning("Discord login: the token response had no access_token")
        raise DiscordLoginError(UNAVAILABLE_MESSAGE, "no access_token in the token response")
    return access_token


async def _read_profile(
    http: aiohttp.ClientSession, settings: WebSettings, access_token: str
) -> dict[str, Any]:
    url = _base(settings) + "/api/v10/users/@me"
    headers = {"Authorization": f"Bearer {access_token}"}
    async with http.get(url, headers=headers) as response:
        body = await _json_body(response)
        if response.status != 200 or not isinstance(body, dict):
            _log.warning("Discord login: users/@me failed with status %s", response.status)
            raise DiscordLoginError(UNAVAILABLE_MESSAGE, f"users/@me {response.status}")
    return body


async def _json_body(response: aiohttp.ClientResponse) -> Any:
    try:
        return await response.json(content_type=None)
    except ValueError:
        return None


def _identity(profile: dict[str, Any]) -> DiscordIdentity:
    user_id = profile.get("id")
    username = profile.get("username")
    if not isinstance(user_id, str) or not user_id.isdigit() or not isinstance(username, str):
        _log.warning("Discord login: users/@me returned no usable id or username")
        raise DiscordLoginError(UNAVAILABLE_MESSAGE, "users/@me without id or username")
    email = profile.get("email")
    global_name = profile.get("global_name")
    return DiscordIdentity(
        id=user_id,
        username=username,
        global_name=global_name if isinstance(global_name, str) and global_name else None,
        email=email.strip().lower() if isinstance(email, str) and email.strip() else None,
        verified=profile.get("verified") is True,
    )


def _base(settings: WebSettings) -> str:
    return settings.discord_oauth_base.rstrip("/")
