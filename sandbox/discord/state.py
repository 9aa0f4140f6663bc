"""``SandboxDiscord``: the state of the offline Discord and the API simulated applications use."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from midjau.settings import SandboxSettings
from sandbox.discord.applications import SandboxApplication, SandboxFile
from sandbox.discord.cdn import AttachmentStore, StoredAttachment, guess_content_type
from sandbox.discord.commands import CommandRegistry
from sandbox.discord.errors import DiscordHTTPError, unknown_channel, unknown_message
from sandbox.discord.gateway import GatewayHub
from sandbox.discord.interactions import InteractionRouter
from sandbox.discord.messages import (
    DEFAULT_MESSAGE,
    EPHEMERAL_FLAG,
    REPLY_MESSAGE,
    MessageStore,
    StoredMessage,
    build_message_data,
    mentioned_accounts,
    render_message,
)
from sandbox.discord.oauth import OAuthGrants
from sandbox.discord.payloads import iso_timestamp, user_payload
from sandbox.discord.ratelimits import RateLimitKnobs, RequestLog
from sandbox.discord.responses import InteractionResponses
from sandbox.discord.snowflakes import SnowflakeFactory
from sandbox.discord.world import Account, Channel, build_world

_log = logging.getLogger(__name__)


class SandboxDiscord:
    """The guild, accounts, messages, sessions and applications of the sandbox Discord."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.world = build_world(settings)
        self.snowflakes = SnowflakeFactory()
        self.cdn = AttachmentStore(ttl_seconds=settings.attachment_ttl_seconds)
        self.messages = MessageStore()
        self.commands = CommandRegistry(self.snowflakes)
        self.gateway = GatewayHub(self)
        self.interactions = InteractionRouter(self)
        self.responses = InteractionResponses(self)
        self.rate_limits = RateLimitKnobs()
        self.requests = RequestLog()
        self.oauth = OAuthGrants(settings)
        self.applications: dict[str, SandboxApplication] = {}
        self.base_url = ""

    # -- addresses and accounts ------------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/gateway"

    def bind(self, base_url: str) -> None:
        """Record the address the server listens on; URLs in payloads point there."""
        self.base_url = base_url
        self.cdn.base_url = base_url

    def account(self, user_id: str) -> Account:
        """Return a known account by id."""
        return self.world.accounts[user_id]

    def account_for_gateway_token(self, token: str) -> Account | None:
        """Return the account an IDENTIFY token belongs to (bots send it without ``Bot ``)."""
        if not token:
            return None
        token = token.removeprefix("Bot ")
        for account in self.world.accounts.values():
            if account.token == token:
                return account
        return None

    def account_for_authorization(self, header: str) -> Account | None:
        """Return the account of an ``Authorization`` header: ``Bot <token>`` or a user token."""
        if header.startswith("Bot "):
            return self.world.account_for_token(header.removeprefix("Bot "), bot=True)
        return self.world.account_for_token(header, bot=False)

    def channel(self, channel_id: str) -> Channel:
        """Return a channel or raise Discord's 404 Unknown Channel."""
        channel = self.world.guild.channels.get(channel_id)
        if channel is None:
            raise unknown_channel()
        return channel

    # -- applications ----------------------------------------------------------------------

    def register_application(self, application: SandboxApplication) -> None:
        """Route users' interactions for ``application.application_id`` to a simulated app."""
        bot = application.bot_user
        account = self.world.accounts.get(str(bot["id"]))
        if account is None:
            account = Account(
                id=str(bot["id"]),
                username=str(bot.get("username", "app")),
                bot=True,
                discriminator=str(bot.get("discriminator", "0")),
                avatar=bot.get("avatar"),
            )
        self.world.add_member(account)
        self.applications[application.application_id] = application
        _log.info("application %s registered in the sandbox", application.application_id)

    # -- messages --------------------------------------------------------------------------

    def store_file(
        self,
        channel_id: str,
        filename: str,
        data: bytes,
        *,
        content_type: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> StoredAttachment:
        """Store bytes as an attachment of a channel and return it."""
        if content_type in (None, "", "application/octet-stream"):
            content_type = guess_content_type(filename)
        # Discord keeps file names URL-safe: no folders, spaces become underscores.
        filename = re.sub(r"\s+", "_", filename.replace("\\", "/").rsplit("/", 1)[-1]) or "file"
        attachment = StoredAttachment(
            id=self.snowflakes.next_id(),
            channel_id=channel_id,
            filename=filename,
            data=data,
            content_type=content_type,
            width=width,
            height=height,
        )
        return self.cdn.add(attachment)

    def create_message(
        self,
        channel_id: str,
        author: Account,
        *,
        content: str = "",
        embeds: Sequence[Mapping[str, Any]] = (),
        components: Sequence[Mapping[str, Any]] = (),
        attachments: Sequence[StoredAttachment] = (),
        nonce: str | int | None = None,
        reference_id: str | None = None,
        message_type: int | None = None,
        flags: int = 0,
        ephemeral_to: str | None = None,
        extra: Mapping[str, Any] | None = None,
        publish: bool = True,
    ) -> StoredMessage:
        """Store a new message and dispatch MESSAGE_CREATE to everyone who may see it.

        ``publish=False`` stores it without any gateway event, as when Discord loses one:
        only channel history then has the message.
        """
        channel = self.channel(channel_id)
        if ephemeral_to is not None:
            flags |= EPHEMERAL_FLAG
        fields = dict(extra or {})
        if reference_id is not None:
            fields["message_reference"] = {
                "type": 0,
                "message_id": reference_id,
                "channel_id": channel_id,
                "guild_id": channel.guild_id,
            }
        if message_type is None:
            message_type = REPLY_MESSAGE if reference_id is not None else DEFAULT_MESSAGE

        data = build_message_data(
            self.world,
            message_id=self.snowflakes.next_id(),
            channel_id=channel_id,
            author=author,
            content=content,
            embeds=embeds,
            components=components,
            message_type=message_type,
            flags=flags,
            nonce=nonce,
            extra=fields,
        )
        message = StoredMessage(data, list(attachments), ephemeral_to)
        self.messages.add(message)
        if publish:
            self.publish("MESSAGE_CREATE", message)
        return message

    def update_message(self, message: StoredMessage, changes: Mapping[str, Any]) -> StoredMessage:
        """Apply edits (content, embeds, components, flags, attachments), then MESSAGE_UPDATE."""
        for key in ("content", "embeds", "components"):
            if key in changes and changes[key] is not None:
                message.data[key] = changes[key]
        if changes.get("flags") is not None:
            # Whether a message is ephemeral is fixed when it is sent.
            ephemeral_bit = message.data["flags"] & EPHEMERAL_FLAG
            message.data["flags"] = (int(changes["flags"]) & ~EPHEMERAL_FLAG) | ephemeral_bit
        if "content" in changes:
            message.data["mentions"] = [
                user_payload(account)
                for account in mentioned_accounts(message.data["content"], self.world)
            ]
        if "attachments" in changes and changes["attachments"] is not None:
            message.attachments = list(changes["attachments"])
        message.data["edited_timestamp"] = iso_timestamp(time.time())
        self.publish("MESSAGE_UPDATE", message)
        return message

    def remove_message(self, message: StoredMessage) -> None:
        """Delete a message and dispatch MESSAGE_DELETE."""
        self.messages.remove(message)
        channel = self.channel(message.channel_id)
        data: dict[str, Any] = {"id": message.id, "channel_id": message.channel_id}
        if channel.guild_id is not None:
            data["guild_id"] = channel.guild_id
        self.gateway.dispatch_message_event(
            "MESSAGE_DELETE",
            data,
            channel,
            author_id=message.author_id,
            mentioned_ids=message.mentioned_ids,
            ephemeral_to=message.ephemeral_to,
        )

    def render(self, message: StoredMessage) -> dict[str, Any]:
        """Return the full message object, with ``referenced_message`` for replies."""
        reference = message.data.get("message_reference") or {}
        referenced = None
        if reference.get("message_id"):
            referenced = self.messages.get_any(str(reference["message_id"]))
        return render_message(message, self.cdn, referenced=referenced)

    def publish(self, event: str, message: StoredMessage) -> None:
        """Dispatch MESSAGE_CREATE or MESSAGE_UPDATE with the full message."""
        self.gateway.dispatch_message_event(
            event,
            self.render(message),
            self.channel(message.channel_id),
            author_id=message.author_id,
            mentioned_ids=message.mentioned_ids,
            ephemeral_to=message.ephemeral_to,
        )

    # -- the API simulated applications use ------------------------------------------------

    def post_message(
        self,
        channel_id: str,
        author: str | Mapping[str, Any],
        *,
        content: str = "",
        embeds: Sequence[Mapping[str, Any]] = (),
        components: Sequence[Mapping[str, Any]] = (),
        files: Sequence[SandboxFile] = (),
        nonce: str | None = None,
        reference_id: str | None = None,
        interaction: Mapping[str, Any] | None = None,
        flags: int = 0,
        ephemeral_to: str | None = None,
        publish: bool = True,
    ) -> dict[str, Any]:
        """Post a message as an application's bot and return the message object.

        ``author`` is a user id or a user object. ``interaction`` contains ``id``, ``name``,
        ``type`` and ``user`` (or ``user_id``), and becomes the message's ``interaction`` and
        ``interaction_metadata``. ``ephemeral_to`` makes the message visible to that user only.
        ``publish=False`` stores it without a MESSAGE_CREATE event.
        """
        account = self._author_account(author)
        attachments = [
            self.store_file(
                channel_id,
                file.filename,
                file.data,
                content_type=file.content_type,
                width=file.width,
                height=file.height,
            )
            for file in files
        ]
        extra = self.interactions.metadata_fields(interaction) if interaction else {}
        extra["application_id"] = account.id
        message = self.create_message(
            channel_id,
            account,
            content=content,
            embeds=embeds,
            components=components,
            attachments=attachments,
            nonce=nonce,
            reference_id=reference_id,
            flags=flags,
            ephemeral_to=ephemeral_to,
            extra=extra,
            publish=publish,
        )
        return self.render(message)

    def edit_message(self, channel_id: str, message_id: str, **changes: Any) -> dict[str, Any]:
        """Edit a message (content, embeds, components, flags, files) and return it.

        ``files`` replaces every attachment; ``attachments=[]`` removes them all.
        """
        message = self._find(channel_id, message_id)
        files: Sequence[SandboxFile] | None = changes.pop("files", None)
        if files is not None:
            changes["attachments"] = [
                self.store_file(
                    channel_id,
                    file.filename,
                    file.data,
                    content_type=file.content_type,
                    width=file.width,
                    height=file.height,
                )
                for file in files
            ]
        elif changes.get("attachments") == []:
            changes["attachments"] = []
        else:
            changes.pop("attachments", None)
        return self.render(self.update_message(message, changes))

    def delete_message(self, channel_id: str, message_id: str) -> None:
        """Delete a message; unknown ids raise Discord's 404 Unknown Message."""
        self.remove_message(self._find(channel_id, message_id))

    def dispatch_to_user(self, user_id: str, event: str, data: dict[str, Any]) -> None:
        """Send a gateway dispatch to every session of one user."""
        self.gateway.dispatch_to_user(user_id, event, data)

    def get_message(self, channel_id: str, message_id: str) -> dict[str, Any] | None:
        """Return a message object (ephemeral ones included), or None."""
        message = self.messages.get_any(message_id)
        if message is None or message.channel_id != channel_id:
            return None
        return self.render(message)

    # -- knobs for tests -------------------------------------------------------------------

    def reconnect_sessions(self, user_id: str | None = None) -> int:
        """Send op 7 RECONNECT to the sessions of a user (or all); return how many."""
        return self.gateway.reconnect_sessions(user_id)

    def invalidate_sessions(self, user_id: str | None = None, *, resumable: bool = False) -> int:
        """Send op 9 INVALID_SESSION to the sessions of a user (or all); return how many."""
        return self.gateway.invalidate_sessions(user_id, resumable=resumable)

    def drop_connections(self, user_id: str | None = None, *, code: int = 4000) -> int:
        """Close the gateway sockets of a user (or all) with a close code; return how many."""
        return self.gateway.drop_connections(user_id, code=code)

    def rate_limit_next(
        self,
        count: int,
        *,
        method: str | None = None,
        route: str | None = None,
        retry_after: float = 0.05,
    ) -> None:
        """Reject the next ``count`` matching REST requests with 429 (see RateLimitKnobs)."""
        self.rate_limits.limit_next(count, method=method, route=route, retry_after=retry_after)

    def _find(self, channel_id: str, message_id: str) -> StoredMessage:
        message = self.messages.get_any(message_id)
        if message is None or message.channel_id != channel_id:
            raise unknown_message()
        return message

    def _author_account(self, author: str | Mapping[str, Any]) -> Account:
        user_id = author if isinstance(author, str) else str(author["id"])
        account = self.world.accounts.get(user_id)
        if account is None:
            raise DiscordHTTPError(404, 10013, f"Unknown User {user_id}")
        return account
