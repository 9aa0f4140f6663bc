"""Builders for the JSON objects discord.py reads with ``[]``; a missing key there kills the client.

Every builder returns a complete object as Discord sends it. The contract test in
``tests/sandbox`` removes required keys one at a time to prove they are needed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.discord.snowflakes import snowflake_to_unix
from sandbox.discord.world import Account, Channel, Guild, Role, World

API_VERSION = 10


def iso_timestamp(unix_seconds: float) -> str:
    """Format a Unix time as Discord's ISO 8601 timestamp."""
    return datetime.fromtimestamp(unix_seconds, UTC).isoformat(timespec="microseconds")


def snowflake_timestamp(snowflake: str) -> str:
    """Return the ISO timestamp a snowflake was made at."""
    return iso_timestamp(snowflake_to_unix(snowflake))


def user_payload(account: Account) -> dict[str, Any]:
    """Build a user object."""
    return {
        "id": account.id,
        "username": account.username,
        "discriminator": account.discriminator,
        "global_name": account.global_name,
        "avatar": account.avatar,
        "bot": account.bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }


def member_payload(account: Account, guild: Guild, *, with_user: bool = True) -> dict[str, Any]:
    """Build a guild member object; ``flags`` and ``roles`` are required by discord.py."""
    data: dict[str, Any] = {
        "roles": list(account.role_ids),
        "nick": None,
        "avatar": None,
        "banner": None,
        "joined_at": guild.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user_payload(account)
    return data


def role_payload(role: Role) -> dict[str, Any]:
    """Build a role object."""
    return {
        "id": role.id,
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }


def channel_payload(channel: Channel) -> dict[str, Any]:
    """Build a channel object; ``type`` and ``position`` are required by discord.py."""
    data: dict[str, Any] = {
        "id": channel.id,
        "type": channel.type,
        "name": channel.name,
        "position": channel.position,
        "topic": channel.topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "parent_id": None,
        "permission_overwrites": [],
        "flags": 0,
    }
    if channel.guild_id is not None:
        data["guild_id"] = channel.guild_id
    return data


def guild_payload(world: World) -> dict[str, Any]:
    """Build the full guild object sent in GUILD_CREATE."""
    guild = world.guild
    members = [member_payload(world.accounts[user_id], guild) for user_id in guild.member_ids]
    return {
        "id": guild.id,
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": guild.owner_id,
        "unavailable": False,
        "large": False,
        "member_count": len(members),
        "joined_at": guild.joined_at,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [role_payload(role) for role in guild.roles.values()],
        "channels": [channel_payload(channel) for channel in guild.channels.values()],
        "members": members,
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "vanity_url_code": None,
        "application_id": None,
        "max_members": 500000,
        "premium_progress_bar_enabled": False,
    }


def ready_payload(
    account: Account, world: World, *, session_id: str, resume_gateway_url: str
) -> dict[str, Any]:
    """Build READY: ``session_id``, ``resume_gateway_url``, ``user`` and ``guilds`` are required."""
    data: dict[str, Any] = {
        "v": API_VERSION,
        "user": user_payload(account) | {"verified": True, "mfa_enabled": False},
        "guilds": [{"id": world.guild.id, "unavailable": True}],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "user_settings": {},
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "_trace": ["sandbox-gateway"],
    }
    if account.bot:
        data["application"] = {"id": account.id, "flags": 0}
        data["shard"] = [0, 1]
    return data


def application_payload(bot: Account, owner: Account) -> dict[str, Any]:
    """Build ``/oauth2/applications/@me``; ``owner`` and ``verify_key`` are required."""
    return {
        "id": bot.id,
        "name": bot.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot": user_payload(bot),
        "bot_public": False,
        "bot_require_code_grant": False,
        "owner": user_payload(owner),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "hook": True,
        "guild_id": None,
        "rpc_origins": [],
        "interactions_endpoint_url": None,
        "tags": [],
        "redirect_uris": [],
        "approximate_guild_count": 1,
    }


def gateway_bot_payload(gateway_url: str) -> dict[str, Any]:
    """Build ``/gateway/bot``, which only AutoSharded clients ask for."""
    return {
        "url": gateway_url,
        "shards": 1,
        "session_start_limit": {
            "total": 1000,
            "remaining": 1000,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        },
    }


def interaction_metadata(
    interaction_id: str, interaction_type: int, name: str | None, user: Account, guild_id: str
) -> dict[str, Any]:
    """Build the ``interaction`` and ``interaction_metadata`` fields of a response message."""
    legacy: dict[str, Any] = {
        "id": interaction_id,
        "type": interaction_type,
        "name": name or "",
        "user": user_payload(user),
    }
    metadata: dict[str, Any] = {
        "id": interaction_id,
        "type": interaction_type,
        "user": user_payload(user),
        "authorizing_integration_owners": {"0": guild_id},
    }
    if name:
        metadata["name"] = name
    return {"interaction": legacy, "interaction_metadata": metadata}
