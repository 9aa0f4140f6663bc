"""Shared pieces of the REST routes: state keys, JSON responses, bodies and middlewares."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from sandbox.discord.bodies import Upload
from sandbox.discord.errors import DiscordHTTPError, unauthorized
from sandbox.discord.oauth import AUTHORIZE_ROUTE, BEARER_ROUTES, TOKEN_ROUTE, AccessGrant
from sandbox.discord.ratelimits import RateLimitRule, RequestRecord
from sandbox.discord.state import SandboxDiscord
from sandbox.discord.world import Account

_log = logging.getLogger(__name__)

DISCORD_KEY = web.AppKey("sandbox_discord", SandboxDiscord)
ACCOUNT_KEY = web.RequestKey("sandbox_account", Account)
# Set when the request was authorized by an OAuth2 Bearer token; limits what it may read.
BEARER_GRANT_KEY = web.RequestKey("sandbox_bearer_grant", AccessGrant)

API_PREFIXES = ("/api/v9", "/api/v10")
# Discord also answers under a bare /api, at its default version.
_API_PREFIX = re.compile(r"^/api(/v\d+)?")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return JSON with exactly ``Content-Type: application/json``.

    discord.py decodes a body only for that exact type; ``web.json_response`` adds
    ``; charset=utf-8`` and discord.py would then hand the caller a string.
    """
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def discord_of(request: web.Request) -> SandboxDiscord:
    return request.app[DISCORD_KEY]


def account_of(request: web.Request) -> Account:
    return request[ACCOUNT_KEY]


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """Read a JSON body, or a multipart body with ``payload_json`` and ``files[n]`` parts."""
    if request.content_type.startswith("multipart/"):
        return await _read_multipart(request)
    raw = await request.read()
    if not raw:
        return {}, []
    try:
        return json.loads(raw), []
    except ValueError as error:
        raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from error


async def _read_multipart(request: web.Request) -> tuple[Any, list[Upload]]:
    payload: Any = {}
    uploads: list[Upload] = []
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, aiohttp.BodyPartReader):
            continue
        name = part.name or ""
        if name == "payload_json":
            try:
                payload = json.loads(await part.text())
            except ValueError as error:
                raise DiscordHTTPError(
                    400, 50109, "The request body contains invalid JSON."
                ) from error
            continue
        match = re.fullmatch(r"files\[(\d+)\]|file(\d*)", name)
        if match is None:
            continue
        index = int(match.group(1) or match.group(2) or len(uploads))
        data = bytes(await part.read())
        uploads.append(Upload(index, part.filename or f"file{index}", data))
    return payload, uploads


def route_template(request: web.Request) -> str:
    """Return the matched route's path without the ``/api/vN`` prefix."""
    canonical = (
        request.match_info.route.resource.canonical if request.match_info.route.resource else ""
    )
    return _API_PREFIX.sub("", canonical)


@web.middleware
async def discord_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn DiscordHTTPError into Discord's JSON error bodies; log anything unexpected."""
    try:
        return await handler(request)
    except DiscordHTTPError as error:
        return json_response(error.body(), status=error.status)
    except web.HTTPException as error:
        if not request.path.startswith("/api/") or error.status < 400:
            raise
        return json_response(
            {"message": f"{error.status}: {error.reason}", "code": 0}, status=error.status
        )
    except Exception:
        _log.exception("sandbox request %s %s failed", request.method, request.path)
        # 503 rather than 500: discord.py retries 500 for about 25 seconds before failing.
        return json_response({"message": "503: Sandbox error", "code": 0}, status=503)


@web.middleware
async def rate_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Return 429 while a rate-limit knob matches, and log every API request."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    arrived = time.monotonic()
    path = _API_PREFIX.sub("", request.path)
    template = route_template(request)
    discord = discord_of(request)

    rule = discord.rate_limits.take(request.method, template, path)
    if rule is not None:
        discord.requests.add(RequestRecord(arrived, request.method, template, path, 429))
        return _rate_limited(rule)

    status = 0
    try:
        response = await handler(request)
        status = response.status
        return response
    except (DiscordHTTPError, web.HTTPException) as error:
        status = error.status
        raise
    finally:
        discord.requests.add(RequestRecord(arrived, request.method, template, path, status))


def _rate_limited(rule: RateLimitRule) -> web.Response:
    """Return Discord's 429 response. Its ``Via`` header makes discord.py retry the request."""
    body = {
        "message": "You are being rate limited.",
        "retry_after": rule.retry_after,
        "global": rule.is_global,
    }
    headers = {
        "Retry-After": str(math.ceil(rule.retry_after)),
        "X-RateLimit-Global": str(rule.is_global).lower(),
        "X-RateLimit-Scope": "global" if rule.is_global else "user",
        "Via": "1.1 google",
    }
    return json_response(body, status=429, headers=headers)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Resolve ``Authorization`` to an account; token-in-path routes need none."""
    template = route_template(request)
    if not request.path.startswith("/api/") or not template or _token_in_path(template):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return await _bearer_authorized(request, handler, header, template)
    account = discord_of(request).account_for_authorization(header) if header else None
    if account is None:
        raise unauthorized()
    request[ACCOUNT_KEY] = account
    return await handler(request)


async def _bearer_authorized(
    request: web.Request, handler: Handler, header: str, template: str
) -> web.StreamResponse:
    discord = discord_of(request)
    grant = discord.oauth.grant_for(header.removeprefix("Bearer "))
    account = discord.world.accounts.get(grant.account_id) if grant is not None else None
    if grant is None or account is None or template not in BEARER_ROUTES:
        raise unauthorized()
    request[ACCOUNT_KEY] = account
    request[BEARER_GRANT_KEY] = grant
    return await handler(request)


def _token_in_path(template: str) -> bool:
    # The OAuth2 routes authenticate the client in the body or not at all, like a token in the path.
    return (
        template.startswith("/webhooks/")
        or template.endswith("/callback")
        or template in ("/gateway", AUTHORIZE_ROUTE, TOKEN_ROUTE)
    )
