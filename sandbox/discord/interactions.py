"""Users' interactions (``POST /interactions``) routed to applications.

A simulated application (a ``SandboxApplication`` plugin) gets the user's payload directly.
A gateway-connected bot such as MidJAu gets an INTERACTION_CREATE built the way Discord
builds it, and must respond through the callback route within the timeout. The user's
own sessions receive INTERACTION_CREATE, then INTERACTION_SUCCESS or INTERACTION_FAILURE.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sandbox.discord.applications import SandboxApplication
from sandbox.discord.bodies import Upload, resolve_attachments
from sandbox.discord.errors import (
    DiscordHTTPError,
    form_error,
    unknown_application,
    unknown_message,
)
from sandbox.discord.payloads import channel_payload, interaction_metadata, member_payload
from sandbox.discord.world import Account

if TYPE_CHECKING:
    from sandbox.discord.state import SandboxDiscord

_log = logging.getLogger(__name__)

APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT = 2, 3, 5
ATTACHMENT_OPTION = 11
# INTERACTION_FAILURE reason codes as user clients see them.
REASON_UNKNOWN, REASON_TIMEOUT = 1, 2
# The guild owner has every permission: bits 0-50, the ones Discord documented as of 2025.
ALL_PERMISSIONS = (1 << 51) - 1


@dataclass(slots=True)
class PendingInteraction:
    """An interaction sent to a gateway bot, tracked until its token is of no more use."""

    id: str
    token: str
    application_id: str
    user: Account
    channel_id: str
    guild_id: str | None
    type: int
    name: str | None
    nonce: str | None
    session_id: str | None
    source_message_id: str | None = None
    acknowledged: bool = False
    expired: bool = False
    # True after a deferred response (type 5) until the first followup replaces it.
    awaiting_first_followup: bool = False
    original_message_id: str | None = None
    message_ids: set[str] = field(default_factory=set)
    timeout: asyncio.TimerHandle | None = None
    # Fires when the token stops accepting followups and edits (Discord: after 15 minutes).
    token_expiry: asyncio.TimerHandle | None = None


class InteractionRouter:
    """Accept users' interactions and hand them to the application they name."""

    def __init__(self, discord: SandboxDiscord) -> None:
        self._discord = discord
        self.pending: dict[str, PendingInteraction] = {}
        self.by_token: dict[str, PendingInteraction] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, user: Account, payload: dict[str, Any], uploads: Sequence[Upload]) -> str:
        """Accept one user interaction (raising Discord's errors) and return its id."""
        interaction_type = payload.get("type")
        if interaction_type not in (APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT):
            raise form_error("type", "BASE_TYPE_CHOICES", "Value must be one of {2, 3, 5}.")
        if not isinstance(payload.get("data"), dict):
            raise form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
        channel_id = str(payload.get("channel_id", ""))
        self._discord.channel(channel_id)
        application_id = str(payload.get("application_id", ""))

        application = self._discord.applications.get(application_id)
        if application is not None:
            return self._submit_to_plugin(application, user, payload, uploads)
        bot = self._discord.world.accounts.get(application_id)
        if bot is None or not bot.bot or bot.token is None:
            raise unknown_application()
        return self._submit_to_bot(bot, user, payload, uploads)

    def notify_user(self, pending: PendingInteraction, event: str, **extra: Any) -> None:
        """Send INTERACTION_* to the session named in the request, else to all the user's."""
        data: dict[str, Any] = {"id": pending.id, "nonce": pending.nonce, **extra}
        self._notify(pending.user.id, pending.session_id, event, data)

    def metadata_fields(self, interaction: Mapping[str, Any]) -> dict[str, Any]:
        """Build ``interaction`` and ``interaction_metadata`` from ``{id, name, type, user}``.

        ``user_id`` may stand in for ``user``.
        """
        user = interaction.get("user") or {}
        user_id = str(interaction.get("user_id") or user.get("id") or "")
        account = self._discord.world.accounts.get(user_id)
        if account is None or "id" not in interaction:
            return {}
        interaction_type = int(interaction.get("type", APPLICATION_COMMAND))
        name = interaction.get("name")
        guild_id = self._discord.world.guild.id
        return interaction_metadata(
            str(interaction["id"]), interaction_type, name, account, guild_id
        )

    async def close(self) -> None:
        """Cancel timers and running application handlers."""
        for pending in self.pending.values():
            if pending.timeout is not None:
                pending.timeout.cancel()
            if pending.token_expiry is not None:
                pending.token_expiry.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- simulated applications ------------------------------------------------------------

    def _submit_to_plugin(
        self,
        application: SandboxApplication,
        user: Account,
        payload: dict[str, Any],
        uploads: Sequence[Upload],
    ) -> str:
        rejection = application.check_interaction(user.id, payload)
        if rejection is not None:
            status, body = rejection
            raise DiscordHTTPError(
                status,
                int(body.get("code", 0)),
                str(body.get("message", "")),
                body.get("errors"),
                extra=body,
            )
        self._resolve_plugin_attachments(payload, uploads)

        interaction_id = self._discord.snowflakes.next_id()
        session_id = payload.get("session_id")
        nonce = payload.get("nonce")
        data = {"id": interaction_id, "nonce": nonce}
        self._notify(user.id, session_id, "INTERACTION_CREATE", data)
        # An application that decides between SUCCESS and FAILURE (or a modal) itself sets
        # ``acknowledges_interactions``; for the others Discord reports success at once.
        if not getattr(application, "acknowledges_interactions", False):
            self._notify(user.id, session_id, "INTERACTION_SUCCESS", data)
        task = asyncio.create_task(
            self._run_plugin(application, user.id, session_id, payload, interaction_id),
            name=f"sandbox-interaction-{interaction_id}",
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return interaction_id

    def _resolve_plugin_attachments(
        self, payload: dict[str, Any], uploads: Sequence[Upload]
    ) -> None:
        # Plugins get the user's own payload. Each cloud-uploaded attachment entry gains the
        # attachment object's fields (url, size, …), and data.resolved.attachments maps the
        # entry's id, which is the option value, to that object.
        data = payload["data"]
        listed = data.get("attachments") or []
        if not listed:
            return
        channel_id = str(payload["channel_id"])
        stored = resolve_attachments(self._discord, channel_id, listed, uploads)
        resolved = data.setdefault("resolved", {}).setdefault("attachments", {})
        for entry, attachment in zip(listed, stored, strict=False):
            attachment_object = self._discord.cdn.payload(attachment)
            entry.update({k: v for k, v in attachment_object.items() if k != "id"})
            entry["attachment_id"] = attachment.id
            resolved[str(entry.get("id"))] = attachment_object

    async def _run_plugin(
        self,
        application: SandboxApplication,
        user_id: str,
        session_id: str | None,
        payload: dict[str, Any],
        interaction_id: str,
    ) -> None:
        try:
            await application.handle_interaction(user_id, session_id, payload, interaction_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception(
                "application %s failed on interaction %s",
                application.application_id,
                interaction_id,
            )

    # -- gateway bots ----------------------------------------------------------------------

    def _submit_to_bot(
        self, bot: Account, user: Account, payload: dict[str, Any], uploads: Sequence[Upload]
    ) -> str:
        channel_id = str(payload["channel_id"])
        guild_id = self._discord.channel(channel_id).guild_id
        pending = PendingInteraction(
            id=self._discord.snowflakes.next_id(),
            token=f"aW50ZXJhY3Rpb24{secrets.token_urlsafe(48)}",
            application_id=bot.id,
            user=user,
            channel_id=channel_id,
            guild_id=guild_id,
            type=int(payload["type"]),
            name=None,
            nonce=payload.get("nonce"),
            session_id=payload.get("session_id"),
        )
        event = self._bot_interaction(pending, payload, uploads)
        self.pending[pending.id] = pending
        self.by_token[pending.token] = pending

        self.notify_user(pending, "INTERACTION_CREATE")
        for session in self._discord.gateway.sessions_of(bot.id):
            self._discord.gateway.dispatch(session, "INTERACTION_CREATE", event)
        loop = asyncio.get_running_loop()
        timeout = self._discord.settings.interaction_timeout_seconds
        pending.timeout = loop.call_later(timeout, self._expire, pending.id)
        token_ttl = self._discord.settings.interaction_token_ttl_seconds
        pending.token_expiry = loop.call_later(token_ttl, self._expire_token, pending.token)
        _log.info("interaction %s from user %s sent to bot %s", pending.id, user.id, bot.id)
        return pending.id

    def _expire(self, interaction_id: str) -> None:
        pending = self.pending.get(interaction_id)
        if pending is None or pending.acknowledged:
            return
        pending.expired = True
        _log.info(
            "interaction %s was not acknowledged in time; the user gets a failure", interaction_id
        )
        self.notify_user(pending, "INTERACTION_FAILURE", reason_code=REASON_TIMEOUT)

    def _expire_token(self, token: str) -> None:
        # Followups and @original edits look the token up here, so they now fail with
        # 404 Unknown Webhook. NOTE: Discord's own error for an expired token may differ.
        pending = self.by_token.pop(token, None)
        if pending is not None:
            pending.expired = True
            _log.info("interaction %s: its token expired", pending.id)

    def _bot_interaction(
        self, pending: PendingInteraction, payload: dict[str, Any], uploads: Sequence[Upload]
    ) -> dict[str, Any]:
        discord = self._discord
        channel = discord.channel(pending.channel_id)
        guild = discord.world.guild
        permissions = str(
            ALL_PERMISSIONS
            if pending.user.id == guild.owner_id
            else guild.roles[guild.id].permissions
        )
        event: dict[str, Any] = {
            "id": pending.id,
            "application_id": pending.application_id,
            "type": pending.type,
            "token": pending.token,
            "version": 1,
            "attachment_size_limit": discord.settings.upload_limit_bytes,
            "channel_id": channel.id,
            "channel": channel_payload(channel),
            "locale": "en-US",
            "app_permissions": str(guild.roles[guild.id].permissions),
            "entitlements": [],
            "context": 0,
        }
        if channel.guild_id is not None:
            event["guild_id"] = channel.guild_id
            event["guild_locale"] = "en-US"
            event["member"] = member_payload(pending.user, guild) | {"permissions": permissions}
            event["authorizing_integration_owners"] = {"0": channel.guild_id}
        else:
            event["user"] = member_payload(pending.user, guild)["user"]

        if pending.type == APPLICATION_COMMAND:
            event["data"] = self._command_data(pending, payload, uploads)
        elif pending.type == MESSAGE_COMPONENT:
            event["data"], event["message"] = self._component_data(pending, payload)
        else:
            data = payload["data"]
            event["data"] = {
                "custom_id": data.get("custom_id"),
                "components": data.get("components", []),
            }
        return event

    def _command_data(
        self, pending: PendingInteraction, payload: dict[str, Any], uploads: Sequence[Upload]
    ) -> dict[str, Any]:
        sent = payload["data"]
        command = self._discord.commands.find(
            pending.application_id,
            pending.guild_id or "",
            command_id=str(sent["id"]) if sent.get("id") else None,
            name=sent.get("name"),
        )
        if command is None:
            raise DiscordHTTPError(404, 10063, "Unknown application command")
        if sent.get("version") is not None and str(sent["version"]) != command["version"]:
            raise form_error(
                "data.version",
                "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION",
                "This command is outdated, please try again in a few minutes",
            )
        pending.name = command["name"]

        stored = resolve_attachments(
            self._discord, pending.channel_id, sent.get("attachments") or [], uploads
        )
        by_client_id = {
            str(entry.get("id")): attachment
            for entry, attachment in zip(sent.get("attachments") or [], stored, strict=False)
        }
        options = _with_attachment_ids(sent.get("options") or [], by_client_id)
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": command["type"],
            "options": options,
        }
        if by_client_id:
            data["resolved"] = {
                "attachments": {a.id: self._discord.cdn.payload(a) for a in by_client_id.values()}
            }
        if command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        return data

    def _component_data(
        self, pending: PendingInteraction, payload: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        message_id = str(payload.get("message_id", ""))
        message = self._discord.messages.get_any(message_id)
        visible = message is not None and message.ephemeral_to in (None, pending.user.id)
        if message is None or not visible or message.channel_id != pending.channel_id:
            raise unknown_message()
        sent = payload["data"]
        custom_id = sent.get("custom_id")
        if custom_id not in _custom_ids(message.data.get("components") or []):
            raise form_error("data.custom_id", "COMPONENT_NOT_FOUND", "Unknown component.")
        pending.source_message_id = message.id
        data: dict[str, Any] = {
            "custom_id": custom_id,
            "component_type": sent.get("component_type", 2),
        }
        if "values" in sent:
            data["values"] = sent["values"]
        return data, self._discord.render(message)

    def _notify(
        self, user_id: str, session_id: str | None, event: str, data: dict[str, Any]
    ) -> None:
        gateway = self._discord.gateway
        sessions = gateway.sessions_of(user_id)
        named = [s for s in sessions if s.id == session_id]
        for session in named or sessions:
            gateway.dispatch(session, event, data)


def _with_attachment_ids(
    options: Sequence[Mapping[str, Any]], by_client_id: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Copy options, replacing attachment option values (upload indexes) with attachment ids."""
    converted: list[dict[str, Any]] = []
    for option in options:
        copy = dict(option)
        if copy.get("type") == ATTACHMENT_OPTION:
            attachment = by_client_id.get(str(copy.get("value")))
            if attachment is None:
                raise form_error("data.options", "ATTACHMENT_NOT_FOUND", "Unknown attachment.")
            copy["value"] = attachment.id
        if "options" in copy:
            copy["options"] = _with_attachment_ids(copy["options"], by_client_id)
        converted.append(copy)
    return converted


def _custom_ids(components: Sequence[Mapping[str, Any]]) -> set[str]:
    found: set[str] = set()
    for component in components:
        if component.get("custom_id"):
            found.add(str(component["custom_id"]))
        found |= _custom_ids(component.get("components") or [])
    return found
