"""The relay: acts as the connected Discord user toward Midjourney.

Only a user can run Midjourney's slash commands and press its buttons, so the relay sends
``POST /interactions`` with the user's token and keeps the user's gateway session open for
the events only that session receives. It sends one interaction at a time; spacing jobs
out is the dispatcher's work. The token goes only to ``api_base`` and the gateway and is
never logged, shown in a repr or put in an exception.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import yarl

from midjourney.messages import MIDJOURNEY_BOT_ID, ChannelEvent, ChannelMessage
from midjourney.snowflake import new_nonce
from midjourney.user_gateway import (
    BROWSER_USER_AGENT,
    CLIENT_PROPERTIES,
    GatewayAuthenticationError,
    GatewayTimings,
    UserGateway,
    channel_event,
)

_log = logging.getLogger(__name__)

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
BUTTON = 2
STALE_VERSION_CODE = "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION"
# Observed /imagine id and version, used only when the command index lacks the command.
FALLBACK_IMAGINE = {
    "id": "938956540159881230",
    "version": "1237876415471554623",
    "name": "imagine",
    "type": 1,
}
MAX_RATE_LIMIT_WAITS = 5
MAX_SERVER_ERROR_RETRIES = 3
# Floor on any wait after a 429, so a zero retry_after cannot make a hot loop.
MIN_RETRY_SECONDS = 0.05
MAX_ERROR_BODY = 300


class RelayError(Exception):
    """A relay failure; ``user_message`` is safe to show, and ``str()`` contains the detail."""

    def __init__(self, user_message: str, detail: str = "") -> None:
        super().__init__(detail or user_message)
        self.user_message = user_message


class TokenRejectedError(RelayError):
    """Discord returned 401: the user token is invalid or revoked."""


class AccessBlockedError(RelayError):
    """Discord returned 403: the account may not do this, or anti-abuse checks blocked it."""


class CaptchaRequiredError(RelayError):
    """Discord asked for a CAPTCHA; a human must act in the Discord app."""


class InteractionRejectedError(RelayError):
    """Discord rejected a request with another 4xx (or kept failing with 5xx)."""

    def __init__(self, status: int, body: Any) -> None:
        text = (
            json.dumps(body)[:MAX_ERROR_BODY]
            if not isinstance(body, str)
            else body[:MAX_ERROR_BODY]
        )
        super().__init__(
            f"Discord rejected the request to Midjourney (HTTP {status}).", f"HTTP {status}: {text}"
        )
        self.status = status
        self.body = body


class RateLimitedError(InteractionRejectedError):
    """Discord still returned 429 after the relay had waited ``retry_after`` several times."""

    def __init__(self, body: Any) -> None:
        super().__init__(429, body)
        self.user_message = "Discord kept rate-limiting the connected account."
        # Discord's last requested wait, so the caller waits at least as long.
        self.retry_after = _body_retry_after(body)


EventHandler = Callable[[ChannelEvent], Awaitable[None]]


class Relay:
    """Acts as the connected Discord user toward Midjourney."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        token: str,
        api_base: str,
        gateway_url: str,
        guild_id: str,
        channel_id: str,
        on_event: EventHandler,
        application_id: str = MIDJOURNEY_BOT_ID,
        timings: GatewayTimings | None = None,
    ) -> None:
        self._http = http
        self._token = token
        self.api_base = api_base.rstrip("/")
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.application_id = application_id
        self._on_event = on_event
        self._gateway = UserGateway(
            http=http,
            token=token,
            gateway_url=gateway_url,
            on_dispatch=self._handle_dispatch,
            timings=timings,
            on_reidentified=self._handle_reidentified,
        )
        # Awaited after the user's session was lost and identified anew: the dispatches
        # sent meanwhile are gone, so the owner reads them from channel history.
        self.on_reidentified: Callable[[], Awaitable[None]] | None = None
        self._imagine: dict[str, Any] | None = None
        # Discord deduplicates by nonce, but a second press racing the first still looks
        # automated; one interaction at a time per account keeps the pace human.
        self._send_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"<Relay user_id={self.user_id!r} channel_id={self.channel_id!r}>"

    @property
    def user_id(self) -> str | None:
        """Id of the connected user, known after READY."""
        value = self._gateway.user.get("id")
        return None if value is None else str(value)

    @property
    def session_id(self) -> str | None:
        """Gateway session id from READY; interactions name it so their events reach us."""
        return self._gateway.session_id

    async def start(self) -> None:
        """Open the user's gateway session (until READY) and load the command index."""
        try:
            await self._gateway.start()
        except GatewayAuthenticationError as error:
            raise TokenRejectedError(
                "Discord rejected the connected account's token. Connect the account again.",
                str(error),
            ) from None
        except (TimeoutError, ConnectionError) as error:
            raise RelayError(
                "Could not open the connected account's Discord session.", str(error)
            ) from None
        try:
            await self.load_commands()
        except BaseException:
            await self._gateway.close()
            raise
        _log.info("relay started for user %s in channel %s", self.user_id, self.channel_id)

    async def close(self) -> None:
        """Close the user's gateway session."""
        await self._gateway.close()

    async def load_commands(self) -> None:
        """Read /imagine's id and current version from the guild's application-command index."""
        index = await self._request("GET", f"/guilds/{self.guild_id}/application-command-index")
        commands = index.get("application_commands") or [] if isinstance(index, dict) else []
        for command in commands:
            if (
                str(command.get("application_id")) == self.application_id
                and command.get("name") == "imagine"
            ):
                self._imagine = command
                return
        _log.warning(
            "application-command-index has no /imagine for %s; using the known id",
            self.application_id,
        )
        self._imagine = dict(FALLBACK_IMAGINE, application_id=self.application_id)

    async def imagine(self, prompt: str, *, nonce: str | None = None) -> str:
        """Send /imagine with ``prompt``; return the nonce of the request Discord accepted.

        A caller that records the nonce before sending (so a crash mid-send can be traced)
        passes it in; it is then kept on the stale-version resend, which the 400 allows
        because Discord created no interaction for the rejected request.
        """
        given_nonce = nonce
        async with self._send_lock:
            if self._imagine is None:
                await self.load_commands()
            nonce = given_nonce or new_nonce()
            status, body = await self._post_interaction(self._imagine_payload(prompt, nonce))
            if status == 400 and _is_stale_version(body):
                _log.info(
                    "/imagine version %s is stale; reloading the command index",
                    self.command_version,
                )
                await self.load_commands()
                nonce = given_nonce or new_nonce()
                status, body = await self._post_interaction(self._imagine_payload(prompt, nonce))
            _raise_for_status(status, body)
            return nonce

    async def press(
        self, message_id: str, custom_id: str, *, message_flags: int = 0, nonce: str | None = None
    ) -> str:
        """Press the button ``custom_id`` on message ``message_id``; return the nonce sent."""
        async with self._send_lock:
            nonce = nonce or new_nonce()
            payload = {
                "type": MESSAGE_COMPONENT,
                "nonce": nonce,
                "guild_id": self.guild_id,
                "channel_id": self.channel_id,
                "message_flags": message_flags,
                "message_id": message_id,
                "application_id": self.application_id,
                "session_id": self.session_id,
                "data": {"component_type": BUTTON, "custom_id": custom_id},
            }
            status, body = await self._post_interaction(payload)
            _raise_for_status(status, body)
            return nonce

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        """Return fresh signed URLs for expired attachment URLs, keyed by the given URL."""
        if not urls:
            return {}
        body = await self._request(
            "POST", "/attachments/refresh-urls", payload={"attachment_urls": list(urls)}
        )
        refreshed: dict[str, str] = {}
        by_path = {_without_query(url): url for url in urls}
        for item in body.get("refreshed_urls") or [] if isinstance(body, dict) else []:
            original = str(item.get("original", ""))
            given = original if original in urls else by_path.get(_without_query(original))
            if given is not None and item.get("refreshed"):
                refreshed[given] = str(item["refreshed"])
        return refreshed

    async def fetch_history(
        self, *, limit: int = 50, before: str | None = None, after: str | None = None
    ) -> list[ChannelMessage]:
        """Return up to ``limit`` (max 100) messages of the linked channel, newest first."""
        params = {"limit": str(max(1, min(limit, 100)))}
        if before:
            params["before"] = before
        if after:
            params["after"] = after
        body = await self._request("GET", f"/channels/{self.channel_id}/messages", params=params)
        return [ChannelMessage.from_payload(item) for item in body or []]

    async def fetch_current_user(self) -> dict[str, Any]:
        """Return the connected user (``GET /users/@me``): a cheap check that the token works.

        Raise TokenRejectedError or AccessBlockedError when Discord refuses it.
        """
        body = await self._request("GET", "/users/@me")
        return body if isinstance(body, dict) else {}

    async def fetch_channel(self) -> dict[str, Any]:
        """Return the linked channel (``GET /channels/{id}``), as the connected user sees it.

        Discord answers 404 for a channel that does not exist and 403 (or 404) for one the
        user cannot see; those raise InteractionRejectedError or AccessBlockedError.
        """
        body = await self._request("GET", f"/channels/{self.channel_id}")
        return body if isinstance(body, dict) else {}

    def _imagine_payload(self, prompt: str, nonce: str) -> dict[str, Any]:
        command = self._imagine or FALLBACK_IMAGINE
        data = {
            "version": str(command["version"]),
            "id": str(command["id"]),
            "name": "imagine",
            "type": 1,
            "options": [{"type": 3, "name": "prompt", "value": prompt}],
            "application_command": command,
            "attachments": [],
        }
        return {
            "type": APPLICATION_COMMAND,
            "application_id": self.application_id,
            "guild_id": self.guild_id,
            "channel_id": self.channel_id,
            "session_id": self.session_id,
            "nonce": nonce,
            "data": data,
            "analytics_location": "slash_ui",
        }

    @property
    def command_version(self) -> str:
        """The /imagine version the next request will carry."""
        return str((self._imagine or FALLBACK_IMAGINE).get("version"))

    async def _post_interaction(self, payload: dict[str, Any]) -> tuple[int, Any]:
        return await self._send("POST", "/interactions", payload=payload)

    async def _request(
        self, method: str, path: str, *, payload: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        status, body = await self._send(method, path, payload=payload, params=params)
        _raise_for_status(status, body)
        return body

    async def _send(
        self, method: str, path: str, *, payload: Any = None, params: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """Send one request, waiting out 429s and retrying 5xx with back-off."""
        url = yarl.URL(self.api_base + path)
        rate_limit_waits = server_retries = 0
        while True:
            async with self._http.request(
                method, url, json=payload, params=params, headers=self._headers()
            ) as response:
                status, body = response.status, await _read_body(response)
                retry_after = _retry_after(response, body)

            if status == 429 and rate_limit_waits < MAX_RATE_LIMIT_WAITS:
                rate_limit_waits += 1
                _log.warning("%s %s rate limited; waiting %.2f s", method, path, retry_after)
                await asyncio.sleep(retry_after)
                continue
            if status >= 500 and server_retries < MAX_SERVER_ERROR_RETRIES:
                server_retries += 1
                delay = 2.0**server_retries
                _log.warning(
                    "%s %s failed with HTTP %s; retrying in %.0f s", method, path, status, delay
                )
                await asyncio.sleep(delay)
                continue
            return status, body

    def _headers(self) -> dict[str, str]:
        properties = base64.b64encode(json.dumps(CLIENT_PROPERTIES).encode()).decode()
        return {
            "Authorization": self._token,
            "User-Agent": BROWSER_USER_AGENT,
            "X-Super-Properties": properties,
            "X-Discord-Locale": "en-US",
            "X-Debug-Options": "bugReporterEnabled",
        }

    @property
    def timings(self) -> GatewayTimings:
        """Waits of the user's gateway client between connection attempts."""
        return self._gateway.timings

    @timings.setter
    def timings(self, value: GatewayTimings) -> None:
        self._gateway.timings = value

    async def _handle_reidentified(self) -> None:
        _log.info("relay for user %s has a new gateway session", self.user_id)
        if self.on_reidentified is not None:
            await self.on_reidentified()

    async def _handle_dispatch(self, name: str, data: dict[str, Any]) -> None:
        event = channel_event(name, data, self.channel_id)
        if event is not None:
            await self._on_event(event)


def _raise_for_status(status: int, body: Any) -> None:
    """Raise the exception for a failed request; the body never contains our token."""
    if status < 400:
        return
    if status == 401:
        raise TokenRejectedError(
            "Discord rejected the connected account's token. Connect the account again.", "HTTP 401"
        )
    if status == 403:
        raise AccessBlockedError(
            "Discord blocked the connected account from this action. "
            "Check the account in the Discord app.",
            f"HTTP 403: {json.dumps(body)[:MAX_ERROR_BODY]}",
        )
    if status == 400 and isinstance(body, dict) and "captcha_key" in body:
        raise CaptchaRequiredError(
            "Discord asks the connected account to solve a CAPTCHA. "
            "Open Discord, run one command by hand, then retry.",
            "HTTP 400 with captcha_key",
        )
    if status == 429:
        raise RateLimitedError(body)
    raise InteractionRejectedError(status, body)


def _is_stale_version(body: Any) -> bool:
    return STALE_VERSION_CODE in json.dumps(body)


async def _read_body(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _retry_after(response: aiohttp.ClientResponse, body: Any) -> float:
    value: Any = body.get("retry_after") if isinstance(body, dict) else None
    if value is None:
        value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return max(MIN_RETRY_SECONDS, seconds)


def _body_retry_after(body: Any) -> float:
    value: Any = body.get("retry_after") if isinstance(body, dict) else None
    try:
        seconds = float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        seconds = 1.0
    return max(MIN_RETRY_SECONDS, seconds)


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]
