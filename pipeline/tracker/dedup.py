"""Drop events that both streams deliver: the bot's gateway and the user's session."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

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

# Enough to cover the events of every job in flight on a busy account several times over.
DEFAULT_MEMORY = 20_000


class EventDeduplicator:
    """Remember recent events by (id, kind, content digest) and report repeats."""

    def __init__(self, memory: int = DEFAULT_MEMORY) -> None:
        self._memory = memory
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()

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


def event_key(event: ChannelEvent) -> tuple[str, str, str]:
    """Return the identity of an event: two deliveries of one change share it."""
    match event:
        case MessageCreated(message=message):
            return (message.id, "create", message_digest(message))
        case MessageUpdated(message=message):
            return (message.id, "update", message_digest(message))
        case MessageDeleted(message_id=message_id):
            return (message_id, "delete", "")
        case InteractionCreated(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-create", nonce or "")
        case InteractionSucceeded(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-success", nonce or "")
        case InteractionFailed(interaction_id=interaction_id, nonce=nonce):
            return (interaction_id, "interaction-failure", nonce or "")
        case ModalCreated(interaction_id=interaction_id, custom_id=custom_id):
            return (interaction_id, "modal", custom_id)
    raise TypeError(f"unknown channel event {type(event).__name__}")


def message_digest(message: ChannelMessage) -> str:
    """Return a digest of what a message shows: content, attachments, embeds and buttons.

    Attachment URLs are left out because their signature differs between fetches of one file.
    """
    parts = [message.content]
    parts += [f"{attachment.id}/{attachment.filename}" for attachment in message.attachments]
    parts += [f"{embed.title}\x1f{embed.description}\x1f{embed.footer}" for embed in message.embeds]
    parts += [button.custom_id or button.url or "" for button in message.buttons]
    return hashlib.blake2b("\x1e".join(parts).encode(), digest_size=16).hexdigest()
