"""Turn the Midjourney bot's messages into plain channel events for the engine.

The relay receives the same channel through the connected user's session. The engine
merges both streams, so a message that one connection misses still reaches the tracker.
When the bot's gateway session had to identify anew, the messages posted while it was
down are read from channel history instead; a resumed session gets them replayed.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from midjourney.messages import (
    MIDJOURNEY_BOT_ID,
    Attachment,
    Button,
    ChannelEvent,
    ChannelMessage,
    Embed,
    EventSource,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
)

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)


def channel_message_from(message: discord.Message) -> ChannelMessage:
    """Convert a discord.py message into the pipeline's ChannelMessage, field by field."""
    reference = message.reference
    interaction = message.interaction_metadata
    return ChannelMessage(
        id=str(message.id),
        channel_id=str(message.channel.id),
        guild_id=str(message.guild.id) if message.guild else None,
        author_id=str(message.author.id),
        author_is_bot=message.author.bot,
        content=message.content,
        nonce=None if message.nonce is None else str(message.nonce),
        flags=message.flags.value,
        attachments=tuple(_attachment(attachment) for attachment in message.attachments),
        embeds=tuple(_embed(embed) for embed in message.embeds),
        buttons=tuple(_buttons(message.components)),
        reference_id=str(reference.message_id) if reference and reference.message_id else None,
        interaction_id=str(interaction.id) if interaction else None,
        interaction_user_id=str(interaction.user.id) if interaction else None,
        timestamp=message.created_at,
    )


def channel_message_from_payload(data: dict[str, Any], guild_id: int | None) -> ChannelMessage:
    """Convert a raw MESSAGE_UPDATE payload, adding the guild id when the payload lacks it."""
    if guild_id is not None and not data.get("guild_id"):
        data = {**data, "guild_id": str(guild_id)}
    return ChannelMessage.from_payload(data)


def _attachment(attachment: discord.Attachment) -> Attachment:
    return Attachment(
        id=str(attachment.id),
        filename=attachment.filename,
        url=attachment.url,
        proxy_url=attachment.proxy_url,
        size=attachment.size,
        width=attachment.width,
        height=attachment.height,
        content_type=attachment.content_type,
    )


def _embed(embed: discord.Embed) -> Embed:
    return Embed(
        title=embed.title or "",
        description=embed.description or "",
        color=embed.color.value if embed.color is not None else None,
        footer=embed.footer.text or "",
        image_url=embed.image.url or "",
    )


def _buttons(components: list[Any]) -> list[Button]:
    buttons: list[Button] = []
    for component in components:
        children = getattr(component, "children", [component])
        for child in children:
            if isinstance(child, discord.Button):
                buttons.append(
                    Button(
                        custom_id=child.custom_id,
                        label=child.label or "",
                        emoji=child.emoji.name if child.emoji and child.emoji.name else "",
                        style=child.style.value,
                        url=child.url,
                    )
                )
    return buttons


class Watcher(commands.Cog):
    """Forward the Midjourney bot's messages, edits and deletions to the engine."""

    def __init__(self, bot: MidjauBot) -> None:
        self.bot = bot
        self._sessions = 0

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        """Catch up on the channel history after every session but the first.

        discord.py fires ``on_ready`` after each IDENTIFY, and a new session receives
        nothing that was dispatched before it.
        """
        self._sessions += 1
        if self._sessions == 1:
            return
        log.info("bot gateway identified anew; catching up on channel history")
        try:
            await self.bot.engine.catch_up()
        except Exception:
            log.exception("catching up on channel history after a new bot session failed")

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        """Log the resume; Discord replays the events the session missed."""
        log.info("bot gateway session resumed")

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Forward a new Midjourney message."""
        if str(message.author.id) != MIDJOURNEY_BOT_ID:
            return
        event = MessageCreated(channel_message_from(message), EventSource.BOT)
        await self._forward(event, message.id)

    @commands.Cog.listener()
    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        """Forward an edited Midjourney message (progress, final grid, buttons)."""
        author = payload.data.get("author") or {}
        if str(author.get("id", payload.message.author.id)) != MIDJOURNEY_BOT_ID:
            return
        data: dict[str, Any] = dict(payload.data)
        message = channel_message_from_payload(data, payload.guild_id)
        await self._forward(MessageUpdated(message, EventSource.BOT), payload.message_id)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Forward a deletion; without the cached message the author is unknown, so all go."""
        cached = payload.cached_message
        if cached is not None and str(cached.author.id) != MIDJOURNEY_BOT_ID:
            return
        event = MessageDeleted(str(payload.message_id), str(payload.channel_id), EventSource.BOT)
        await self._forward(event, payload.message_id)

    async def _forward(self, event: ChannelEvent, message_id: int) -> None:
        # Log and swallow engine failures so one bad event does not reach discord.py's dispatcher.
        try:
            await self.bot.engine.handle_channel_event(event)
        except Exception:
            log.exception(
                "the engine failed on %s for message %s", type(event).__name__, message_id
            )


async def setup(bot: MidjauBot) -> None:
    """Load the Midjourney watcher cog."""
    await bot.add_cog(Watcher(bot))
