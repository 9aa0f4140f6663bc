"""Routes for channel messages, typing, cloud uploads and attachment URL refresh."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.discord.bodies import (
    SETTABLE_FLAGS,
    message_changes,
    resolve_attachments,
    validate_message_body,
)
from sandbox.discord.errors import DiscordHTTPError, form_error, unknown_message
from sandbox.discord.messages import EPHEMERAL_FLAG, StoredMessage
from sandbox.discord.rest.common import (
    account_of,
    discord_of,
    json_response,
    no_content,
    read_body,
)
from sandbox.discord.state import SandboxDiscord

MAX_CLOUD_UPLOAD_FILES = 10


async def get_messages(request: web.Request) -> web.Response:
    discord = discord_of(request)
    channel = discord.channel(request.match_info["channel_id"])
    query = request.query
    limit = _limit(query.get("limit", "50"))
    before, after = query.get("before"), query.get("after")
    for name, value in (("before", before), ("after", after)):
        if value is not None and not value.isdigit():
            raise form_error(name, "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
    messages = discord.messages.history(channel.id, limit=limit, before=before, after=after)
    return json_response([discord.render(message) for message in messages])


async def post_message(request: web.Request) -> web.Response:
    discord = discord_of(request)
    channel = discord.channel(request.match_info["channel_id"])
    author = account_of(request)
    body, uploads = await read_body(request)
    if not isinstance(body, dict):
        raise form_error("_", "DICT_TYPE_CONVERT", "Only dictionaries may be used.")
    listed = body.get("attachments") or []
    validate_message_body(body, file_count=len(uploads) + len(listed), editing=False)

    nonce = body.get("nonce")
    if nonce is not None and body.get("enforce_nonce"):
        earlier = discord.messages.by_nonce(author.id, str(nonce))
        if earlier is not None:
            return json_response(discord.render(earlier))
    reference_id = _reference_id(discord, channel.id, body.get("message_reference"))
    attachments = resolve_attachments(discord, channel.id, listed, uploads)

    message = discord.create_message(
        channel.id,
        author,
        content=str(body.get("content") or ""),
        embeds=body.get("embeds") or (),
        components=body.get("components") or (),
        attachments=attachments,
        nonce=nonce,
        reference_id=reference_id,
        flags=int(body.get("flags") or 0) & SETTABLE_FLAGS & ~EPHEMERAL_FLAG,
    )
    return json_response(discord.render(message))


async def get_message(request: web.Request) -> web.Response:
    discord = discord_of(request)
    message = _channel_message(discord, request)
    return json_response(discord.render(message))


async def patch_message(request: web.Request) -> web.Response:
    discord = discord_of(request)
    message = _channel_message(discord, request)
    if message.author_id != account_of(request).id:
        raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
    body, uploads = await read_body(request)
    changes = message_changes(discord, message.channel_id, body, uploads, message.attachments)
    return json_response(discord.render(discord.update_message(message, changes)))


async def delete_message(request: web.Request) -> web.Response:
    discord = discord_of(request)
    message = _channel_message(discord, request)
    account = account_of(request)
    # Only the author or the guild owner (who has Manage Messages) may delete.
    if account.id not in (message.author_id, discord.world.guild.owner_id):
        raise DiscordHTTPError(403, 50013, "Missing Permissions")
    discord.remove_message(message)
    return no_content()


async def post_typing(request: web.Request) -> web.Response:
    discord_of(request).channel(request.match_info["channel_id"])
    return no_content()


async def post_attachment_slots(request: web.Request) -> web.Response:
    """Open cloud-upload slots: ``{files:[{id, filename, file_size}]}``."""
    discord = discord_of(request)
    discord.channel(request.match_info["channel_id"])
    body, _ = await read_body(request)
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_CLOUD_UPLOAD_FILES:
        raise form_error("files", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 10 in length.")

    slots: list[dict[str, Any]] = []
    for index, entry in enumerate(files):
        filename = str(entry.get("filename") or "")
        if not filename:
            raise form_error(
                f"files.{index}.filename", "BASE_TYPE_REQUIRED", "This field is required"
            )
        if int(entry.get("file_size") or 0) > discord.settings.upload_limit_bytes:
            raise DiscordHTTPError(413, 40005, "Request entity too large")
        upload_filename, upload_url = discord.cdn.open_upload_slot(filename)
        slots.append(
            {
                "id": entry.get("id", str(index)),
                "upload_url": upload_url,
                "upload_filename": upload_filename,
            }
        )
    return json_response({"attachments": slots})


async def post_refresh_urls(request: web.Request) -> web.Response:
    """Re-sign attachment URLs.

    The body is ``{attachment_urls: [...]}`` and the reply is
    ``{refreshed_urls: [{original, refreshed}]}``; unknown URLs are left out.
    """
    discord = discord_of(request)
    body, _ = await read_body(request)
    urls = body.get("attachment_urls") if isinstance(body, dict) else None
    if not isinstance(urls, list) or not 1 <= len(urls) <= 50:
        raise form_error(
            "attachment_urls", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 50 in length."
        )
    refreshed = []
    for url in urls:
        new_url = discord.cdn.refresh(str(url))
        if new_url is not None:
            refreshed.append({"original": url, "refreshed": new_url})
    return json_response({"refreshed_urls": refreshed})


def _limit(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise form_error("limit", "NUMBER_TYPE_MAX", "int value should be between 1 and 100.")
    return int(raw)


def _channel_message(discord: SandboxDiscord, request: web.Request) -> StoredMessage:
    channel = discord.channel(request.match_info["channel_id"])
    message = discord.messages.get(channel.id, request.match_info["message_id"])
    if message is None:
        raise unknown_message()
    return message


def _reference_id(discord: SandboxDiscord, channel_id: str, reference: Any) -> str | None:
    if not isinstance(reference, dict) or not reference.get("message_id"):
        return None
    message_id = str(reference["message_id"])
    if discord.messages.get(channel_id, message_id) is not None:
        return message_id
    if reference.get("fail_if_not_exists") is False:
        return None
    raise form_error("message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/channels/{channel_id}/messages", get_messages),
    ("POST", "/channels/{channel_id}/messages", post_message),
    ("GET", "/channels/{channel_id}/messages/{message_id}", get_message),
    ("PATCH", "/channels/{channel_id}/messages/{message_id}", patch_message),
    ("DELETE", "/channels/{channel_id}/messages/{message_id}", delete_message),
    ("POST", "/channels/{channel_id}/typing", post_typing),
    ("POST", "/channels/{channel_id}/attachments", post_attachment_slots),
    ("POST", "/attachments/refresh-urls", post_refresh_urls),
]
