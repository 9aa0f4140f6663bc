"""The message store: channel messages, ephemeral messages, history paging and nonces."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sandbox.discord.cdn import AttachmentStore, StoredAttachment
from sandbox.discord.payloads import member_payload, snowflake_timestamp, user_payload
from sandbox.discord.world import Account, World

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7

DEFAULT_MESSAGE = 0
REPLY_MESSAGE = 19
CHAT_INPUT_COMMAND_MESSAGE = 20

_MENTION = re.compile(r"<@!?(\d+)>")


@dataclass(slots=True)
class StoredMessage:
    """A message as stored: every field but the attachments, whose URLs are signed per read."""

    data: dict[str, Any]
    attachments: list[StoredAttachment] = field(default_factory=list)
    ephemeral_to: str | None = None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def channel_id(self) -> str:
        return str(self.data["channel_id"])

    @property
    def author_id(self) -> str:
        return str(self.data["author"]["id"])

    @property
    def mentioned_ids(self) -> set[str]:
        return {str(user["id"]) for user in self.data.get("mentions", [])}


def mentioned_accounts(content: str, world: World) -> list[Account]:
    """Return the known accounts that ``<@id>`` mentions in the content name, once each."""
    found: dict[str, Account] = {}
    for user_id in _MENTION.findall(content):
        account = world.accounts.get(user_id)
        if account is not None:
            found.setdefault(user_id, account)
    return list(found.values())


def build_message_data(
    world: World,
    *,
    message_id: str,
    channel_id: str,
    author: Account,
    content: str = "",
    embeds: Sequence[Mapping[str, Any]] = (),
    components: Sequence[Mapping[str, Any]] = (),
    message_type: int = DEFAULT_MESSAGE,
    flags: int = 0,
    nonce: str | int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build every field of a message object except ``attachments``."""
    channel = world.guild.channels.get(channel_id)
    data: dict[str, Any] = {
        "id": message_id,
        "channel_id": channel_id,
        "type": message_type,
        "content": content,
        "author": user_payload(author),
        "timestamp": snowflake_timestamp(message_id),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [user_payload(user) for user in mentioned_accounts(content, world)],
        "mention_roles": [],
        "mention_channels": [],
        "embeds": [normalise_embed(embed) for embed in embeds],
        "components": [dict(row) for row in components],
        "reactions": [],
        "pinned": False,
        "flags": flags,
        "position": 0,
    }
    if channel is not None and channel.guild_id is not None:
        data["guild_id"] = channel.guild_id
        data["member"] = member_payload(author, world.guild, with_user=False)
    if nonce is not None:
        data["nonce"] = nonce
    if extra:
        data.update(extra)
    return data


def normalise_embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    """Copy an embed and give it the ``type`` Discord adds to rich embeds."""
    data = dict(embed)
    data.setdefault("type", "rich")
    return data


class MessageStore:
    """Hold every message by channel, in id (creation) order, and ephemeral ones apart."""

    def __init__(self) -> None:
        self._channels: dict[str, dict[str, StoredMessage]] = {}
        self._ephemeral: dict[str, StoredMessage] = {}
        self._nonces: dict[tuple[str, str], str] = {}

    def add(self, message: StoredMessage) -> None:
        """Store a new message and remember its nonce per author."""
        if message.ephemeral_to is not None:
            self._ephemeral[message.id] = message
        else:
            self._channels.setdefault(message.channel_id, {})[message.id] = message
        nonce = message.data.get("nonce")
        if nonce is not None:
            self._nonces[(message.author_id, str(nonce))] = message.id

    def get(self, channel_id: str, message_id: str) -> StoredMessage | None:
        """Return a channel message (never an ephemeral one)."""
        return self._channels.get(channel_id, {}).get(message_id)

    def get_any(self, message_id: str) -> StoredMessage | None:
        """Return a message by id, ephemeral ones included."""
        if message_id in self._ephemeral:
            return self._ephemeral[message_id]
        for messages in self._channels.values():
            if message_id in messages:
                return messages[message_id]
        return None

    def remove(self, message: StoredMessage) -> None:
        """Forget a message."""
        self._ephemeral.pop(message.id, None)
        self._channels.get(message.channel_id, {}).pop(message.id, None)

    def by_nonce(self, author_id: str, nonce: str) -> StoredMessage | None:
        """Return the author's message sent with this nonce, if it still exists."""
        message_id = self._nonces.get((author_id, nonce))
        return self.get_any(message_id) if message_id else None

    def history(
        self, channel_id: str, *, limit: int, before: str | None = None, after: str | None = None
    ) -> list[StoredMessage]:
        """Return up to ``limit`` messages newest first, like ``GET /channels/{id}/messages``.

        With ``after`` Discord takes the oldest messages after that id, and still returns
        them newest first; discord.py's history iterator relies on that order.
        """
        messages: Iterable[StoredMessage] = self._channels.get(channel_id, {}).values()
        if before is not None:
            messages = (m for m in messages if int(m.id) < int(before))
        if after is not None:
            messages = (m for m in messages if int(m.id) > int(after))
        ordered = sorted(messages, key=lambda m: int(m.id))
        chosen = ordered[:limit] if after is not None and before is None else ordered[-limit:]
        return list(reversed(chosen))


def render_message(
    message: StoredMessage, cdn: AttachmentStore, *, referenced: StoredMessage | None = None
) -> dict[str, Any]:
    """Return the full message object with freshly signed attachment URLs."""
    data = dict(message.data)
    data["attachments"] = [cdn.payload(attachment) for attachment in message.attachments]
    if referenced is not None:
        data["referenced_message"] = render_message(referenced, cdn)
    return data


def blank_content(message: dict[str, Any]) -> dict[str, Any]:
    """Return a copy with what the Message Content intent guards emptied, as Discord does."""
    data = dict(message)
    data["content"] = ""
    data["embeds"] = []
    data["attachments"] = []
    data["components"] = []
    data.pop("poll", None)
    return data
