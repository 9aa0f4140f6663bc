"""Routes for interactions: users' ``POST /interactions`` and bots' callbacks and webhooks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.discord.errors import DiscordHTTPError, form_error
from sandbox.discord.rest.common import (
    account_of,
    discord_of,
    json_response,
    no_content,
    read_body,
)

_TRUE = ("1", "true", "True")


async def post_interaction(request: web.Request) -> web.Response:
    """Accept a user's slash command, button click or modal submit; Discord answers 204."""
    account = account_of(request)
    if account.bot:
        raise DiscordHTTPError(403, 20001, "Bots cannot use this endpoint")
    body, uploads = await read_body(request)
    if not isinstance(body, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    discord_of(request).interactions.submit(account, body, uploads)
    return no_content()


async def post_callback(request: web.Request) -> web.Response:
    body, uploads = await read_body(request)
    if not isinstance(body, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    info = request.match_info
    result = discord_of(request).responses.callback(
        info["interaction_id"], info["token"], body, uploads
    )
    if request.query.get("with_response") in _TRUE:
        return json_response(result)
    return no_content()


async def post_followup(request: web.Request) -> web.Response:
    body, uploads = await read_body(request)
    if not isinstance(body, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    info = request.match_info
    message = discord_of(request).responses.followup(
        info["application_id"], info["token"], body, uploads
    )
    if request.query.get("wait") in _TRUE:
        return json_response(message)
    return no_content()


async def get_webhook_message(request: web.Request) -> web.Response:
    info = request.match_info
    message = discord_of(request).responses.get_message(
        info["application_id"], info["token"], info["message_id"]
    )
    return json_response(message)


async def patch_webhook_message(request: web.Request) -> web.Response:
    body, uploads = await read_body(request)
    if not isinstance(body, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    info = request.match_info
    message = discord_of(request).responses.edit_message(
        info["application_id"], info["token"], info["message_id"], body, uploads
    )
    return json_response(message)


async def delete_webhook_message(request: web.Request) -> web.Response:
    info = request.match_info
    discord_of(request).responses.delete_message(
        info["application_id"], info["token"], info["message_id"]
    )
    return no_content()


_WEBHOOK_MESSAGE = "/webhooks/{application_id}/{token}/messages/{message_id}"

ROUTES: list[tuple[str, str, Any]] = [
    ("POST", "/interactions", post_interaction),
    ("POST", "/interactions/{interaction_id}/{token}/callback", post_callback),
    ("POST", "/webhooks/{application_id}/{token}", post_followup),
    ("GET", _WEBHOOK_MESSAGE, get_webhook_message),
    ("PATCH", _WEBHOOK_MESSAGE, patch_webhook_message),
    ("DELETE", _WEBHOOK_MESSAGE, delete_webhook_message),
]
