"""Routes about accounts, the guild, the gateway address and application commands."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from sandbox.discord.errors import DiscordHTTPError, missing_access
from sandbox.discord.payloads import (
    application_payload,
    channel_payload,
    gateway_bot_payload,
    guild_payload,
    user_payload,
)
from sandbox.discord.rest.common import (
    BEARER_GRANT_KEY,
    account_of,
    discord_of,
    json_response,
    read_body,
)
from sandbox.discord.state import SandboxDiscord


async def get_current_user(request: web.Request) -> web.Response:
    account = account_of(request)
    data = user_payload(account) | {"verified": True, "mfa_enabled": False, "locale": "en-US"}
    if not account.bot:
        data |= {"email": f"{account.username}@sandbox.invalid", "premium_type": 0, "phone": None}
    grant = request.get(BEARER_GRANT_KEY)
    # An OAuth2 token reads the email and whether it is verified only with the email scope.
    if grant is not None and "email" not in grant.scopes:
        data.pop("email", None)
        data.pop("verified", None)
    return json_response(data)


async def get_user(request: web.Request) -> web.Response:
    account = discord_of(request).world.accounts.get(request.match_info["user_id"])
    if account is None:
        raise DiscordHTTPError(404, 10013, "Unknown User")
    return json_response(user_payload(account))


async def get_current_application(request: web.Request) -> web.Response:
    account = account_of(request)
    if not account.bot:
        raise DiscordHTTPError(401, 0, "401: Unauthorized")
    discord = discord_of(request)
    owner = discord.account(discord.world.guild.owner_id)
    return json_response(application_payload(account, owner))


async def get_gateway(request: web.Request) -> web.Response:
    return json_response({"url": discord_of(request).gateway_url})


async def get_gateway_bot(request: web.Request) -> web.Response:
    return json_response(gateway_bot_payload(discord_of(request).gateway_url))


async def get_guild(request: web.Request) -> web.Response:
    discord = _checked_guild(request)
    data = guild_payload(discord.world)
    data.pop("members")
    return json_response(data)


async def get_guild_channels(request: web.Request) -> web.Response:
    discord = _checked_guild(request)
    return json_response([channel_payload(c) for c in discord.world.guild.channels.values()])


async def get_channel(request: web.Request) -> web.Response:
    channel = discord_of(request).channel(request.match_info["channel_id"])
    return json_response(channel_payload(channel))


async def put_global_commands(request: web.Request) -> web.Response:
    discord, application_id = _own_application(request)
    body, _ = await read_body(request)
    return json_response(discord.commands.overwrite(application_id, None, body))


async def get_global_commands(request: web.Request) -> web.Response:
    discord, application_id = _own_application(request)
    return json_response(discord.commands.in_scope(application_id))


async def put_guild_commands(request: web.Request) -> web.Response:
    discord, application_id = _own_application(request)
    _checked_guild(request)
    body, _ = await read_body(request)
    guild_id = request.match_info["guild_id"]
    return json_response(discord.commands.overwrite(application_id, guild_id, body))


async def get_guild_commands(request: web.Request) -> web.Response:
    discord, application_id = _own_application(request)
    _checked_guild(request)
    return json_response(discord.commands.in_scope(application_id, request.match_info["guild_id"]))


async def get_guild_command_index(request: web.Request) -> web.Response:
    discord = _checked_guild(request)
    return json_response(command_index(discord))


async def get_channel_command_index(request: web.Request) -> web.Response:
    discord = discord_of(request)
    discord.channel(request.match_info["channel_id"])
    return json_response(command_index(discord))


def command_index(discord: SandboxDiscord) -> dict[str, Any]:
    """Build the application-command-index of the guild: every app's commands and the apps."""
    guild_id = discord.world.guild.id
    applications: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []
    for application in discord.applications.values():
        applications.append(_index_application(application.application_id, application.bot_user))
        for command in application.commands():
            commands.append(
                {"type": 1, "options": [], **command, "application_id": application.application_id}
            )
    for application_id in sorted(discord.commands.application_ids() - set(discord.applications)):
        bot = user_payload(discord.account(application_id))
        applications.append(_index_application(application_id, bot))
        commands.extend(discord.commands.visible_in(application_id, guild_id))
    return {
        "applications": applications,
        "application_commands": commands,
        "version": discord.snowflakes.next_id(),
    }


def _index_application(application_id: str, bot: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": application_id,
        "name": bot.get("username", ""),
        "description": "",
        "icon": None,
        "bot": bot,
        "bot_id": bot.get("id", application_id),
        "flags": 0,
    }


def _checked_guild(request: web.Request) -> SandboxDiscord:
    discord = discord_of(request)
    if request.match_info["guild_id"] != discord.world.guild.id:
        raise DiscordHTTPError(404, 10004, "Unknown Guild")
    return discord


def _own_application(request: web.Request) -> tuple[SandboxDiscord, str]:
    application_id = request.match_info["application_id"]
    if account_of(request).id != application_id:
        raise missing_access()
    return discord_of(request), application_id


ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/users/@me", get_current_user),
    ("GET", "/users/{user_id}", get_user),
    ("GET", "/oauth2/applications/@me", get_current_application),
    ("GET", "/gateway", get_gateway),
    ("GET", "/gateway/bot", get_gateway_bot),
    ("GET", "/guilds/{guild_id}", get_guild),
    ("GET", "/guilds/{guild_id}/channels", get_guild_channels),
    ("GET", "/channels/{channel_id}", get_channel),
    ("GET", "/applications/{application_id}/commands", get_global_commands),
    ("PUT", "/applications/{application_id}/commands", put_global_commands),
    ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", get_guild_commands),
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", put_guild_commands),
    ("GET", "/guilds/{guild_id}/application-command-index", get_guild_command_index),
    ("GET", "/channels/{channel_id}/application-command-index", get_channel_command_index),
]
