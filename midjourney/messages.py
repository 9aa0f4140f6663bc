"""Plain records of what Discord delivers about Midjourney jobs.

Both streams that report on a job end up here: the MidJAu bot's gateway (through the
watcher cog, which converts discord.py objects) and the connected user's own gateway
session (through the relay, which reads raw payloads). The tracker receives only these
records, so it is tested without discord.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# Discord's message flag for a message only its recipient can see.
EPHEMERAL_FLAG = 1 << 6

MIDJOURNEY_BOT_ID = "936929561302675456"
NIJI_BOT_ID = "1022952195194359889"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message, with Discord's (possibly expiring) CDN address."""

    id: str
    filename: str
    url: str
    proxy_url: str = ""
    size: int = 0
    width: int | None = None
    height: int | None = None
    content_type: str | None = None

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Attachment:
        """Build an attachment from Discord's JSON object."""
        return cls(
            id=str(data.get("id", "")),
            filename=str(data.get("filename", "")),
            url=str(data.get("url", "")),
            proxy_url=str(data.get("proxy_url") or ""),
            size=int(data.get("size") or 0),
            width=_optional_int(data.get("width")),
            height=_optional_int(data.get("height")),
            content_type=data.get("content_type"),
        )


@dataclass(frozen=True, slots=True)
class Embed:
    """The parts of an embed Midjourney uses for errors, queue notices and prompts."""

    title: str = ""
    description: str = ""
    color: int | None = None
    footer: str = ""
    image_url: str = ""

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Embed:
        """Build an embed from Discord's JSON object."""
        footer = data.get("footer") or {}
        image = data.get("image") or {}
        return cls(
            title=str(data.get("title") or ""),
            description=str(data.get("description") or ""),
            color=_optional_int(data.get("color")),
            footer=str(footer.get("text") or ""),
            image_url=str(image.get("url") or ""),
        )


@dataclass(frozen=True, slots=True)
class Button:
    """A button of a message; link buttons have a ``url`` and no ``custom_id``."""

    custom_id: str | None
    label: str = ""
    emoji: str = ""
    style: int = 2
    url: str | None = None

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Button:
        """Build a button from Discord's JSON component."""
        emoji = data.get("emoji") or {}
        return cls(
            custom_id=data.get("custom_id"),
            label=str(data.get("label") or ""),
            emoji=str(emoji.get("name") or ""),
            style=int(data.get("style") or 2),
            url=data.get("url"),
        )


@dataclass(frozen=True, slots=True)
class ChannelMessage:
    """A Discord message in the form the pipeline uses."""

    id: str
    channel_id: str
    author_id: str
    content: str = ""
    guild_id: str | None = None
    author_is_bot: bool = False
    nonce: str | None = None
    flags: int = 0
    attachments: tuple[Attachment, ...] = ()
    embeds: tuple[Embed, ...] = ()
    buttons: tuple[Button, ...] = ()
    # message_reference.message_id: the message this one replies to.
    reference_id: str | None = None
    # interaction_metadata.id (or the legacy interaction.id) of the command that caused it.
    interaction_id: str | None = None
    interaction_user_id: str | None = None
    timestamp: datetime | None = None

    @property
    def ephemeral(self) -> bool:
        """Whether only the invoking user can see the message."""
        return bool(self.flags & EPHEMERAL_FLAG)

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> ChannelMessage:
        """Build a message from Discord's JSON, tolerating missing optional fields."""
        author = data.get("author") or {}
        reference = data.get("message_reference") or {}
        interaction = data.get("interaction_metadata") or data.get("interaction") or {}
        interaction_user = interaction.get("user") or {}
        buttons = tuple(
            Button.from_payload(component)
            for row in data.get("components") or ()
            for component in row.get("components") or ()
            if component.get("type") == 2
        )
        nonce = data.get("nonce")
        return cls(
            id=str(data["id"]),
            channel_id=str(data.get("channel_id", "")),
            guild_id=_optional_str(data.get("guild_id")),
            author_id=str(author.get("id", "")),
            author_is_bot=bool(author.get("bot", False)),
            content=str(data.get("content") or ""),
            nonce=None if nonce is None else str(nonce),
            flags=int(data.get("flags") or 0),
            attachments=tuple(Attachment.from_payload(a) for a in data.get("attachments") or ()),
            embeds=tuple(Embed.from_payload(e) for e in data.get("embeds") or ()),
            buttons=buttons,
            reference_id=_optional_str(reference.get("message_id")),
            interaction_id=_optional_str(interaction.get("id")),
            interaction_user_id=_optional_str(interaction_user.get("id")),
            timestamp=_optional_datetime(data.get("timestamp")),
        )


class EventSource(StrEnum):
    """The connection that delivered an event."""

    BOT = "bot"
    USER = "user"
    HISTORY = "history"
    REPLAY = "replay"


@dataclass(frozen=True, slots=True)
class MessageCreated:
    """MESSAGE_CREATE."""

    message: ChannelMessage
    source: EventSource


@dataclass(frozen=True, slots=True)
class MessageUpdated:
    """MESSAGE_UPDATE with the full message after the edit."""

    message: ChannelMessage
    source: EventSource


@dataclass(frozen=True, slots=True)
class MessageDeleted:
    """MESSAGE_DELETE."""

    message_id: str
    channel_id: str
    source: EventSource


@dataclass(frozen=True, slots=True)
class InteractionCreated:
    """INTERACTION_CREATE on the user's session: Discord gave our request an interaction id."""

    interaction_id: str
    nonce: str | None


@dataclass(frozen=True, slots=True)
class InteractionSucceeded:
    """INTERACTION_SUCCESS: the application acknowledged the interaction."""

    interaction_id: str
    nonce: str | None


@dataclass(frozen=True, slots=True)
class InteractionFailed:
    """INTERACTION_FAILURE; reason 1 is unknown, 2 is a timeout."""

    interaction_id: str
    nonce: str | None
    reason_code: int = 1


@dataclass(frozen=True, slots=True)
class ModalCreated:
    """INTERACTION_MODAL_CREATE or INTERACTION_IFRAME_MODAL_CREATE (CAPTCHA when iframe)."""

    interaction_id: str
    nonce: str | None
    custom_id: str
    title: str = ""
    iframe_path: str | None = None
    components: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)


ChannelEvent = (
    MessageCreated
    | MessageUpdated
    | MessageDeleted
    | InteractionCreated
    | InteractionSucceeded
    | InteractionFailed
    | ModalCreated
)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _optional_datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None
