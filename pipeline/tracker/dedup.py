"""Drop events that both streams deliver: the bot's gateway and the user's session."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable

from midjourney.messages import (
    ChannelEvent,
    ChannelMessage,
    InteractionCreated,
    InteractionFailed,
    InteractionSucceeded,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
    ModalCreated,
)

# Enough to cover the events of every job in flight on a busy account several times over,
# and late copies such as a gateway's replay after it resumes. Each event costs one
# 16-byte digest and its place in the ordered dict, about 150 bytes in all.
DEFAULT_MEMORY = 20_000


class EventDeduplicator:
    """Remember recent events by a digest of (id, kind, content) and report repeats."""

    def __init__(self, memory: int = DEFAULT_MEMORY) -> None:
        self._memory = memory
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def is_new(self, event: ChannelEvent) -> bool:
        """Return whether the event was not seen before, and remember it."""
        key = event_key(event)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._memory:
            self._seen.popitem(last=False)
        return True


def event_key(event: ChannelEvent) -> bytes:
    """Return the identity of an event: two deliveries of one change share it.

    The identity is a digest, not the ids and text themselves, so that remembering many
    events keeps one small object each.
    """
    return _digest(event_identity(event))


def event_identity(event: ChannelEvent) -> tuple[str, ...]:
    """Return what identifies an event: its id, its kind and what it shows."""
    match event:
        case MessageCreated(message=message):
            return (message.id, "create", *message_parts(message))
        case MessageUpdated(message=message):
            return (message.id, "update", *message_parts(message))
        case MessageDeleted(message_id=message_id):
            return (message_id, "delete")
        case InteractionCreated(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-create", nonce or "")
        case InteractionSucceeded(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-success", nonce or "")
        case InteractionFailed(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-failure", nonce or "")
        case ModalCreated(interaction_id=interaction_id, custom_id=custom_id):
            return (interaction_id, "modal", custom_id)
    raise TypeError(f"unknown channel event {type(event).__name__}")


def message_parts(message: ChannelMessage) -> list[str]:
    """Return what a message shows: content, attachments, embeds and buttons.

    Attachment URLs are left out because their signature differs between fetches of one file.
    """
    parts = [message.content]
    parts += [f"{attachment.id}/{attachment.filename}" for attachment in message.attachments]
    parts += [f"{embed.title}\x1f{embed.description}\x1f{embed.footer}" for embed in message.embeds]
    parts += [button.custom_id or button.url or "" for button in message.buttons]
    return parts


def _digest(parts: Iterable[str]) -> bytes:
    return hashlib.blake2b("\x1e".join(parts).encode(), digest_size=16).digest()
