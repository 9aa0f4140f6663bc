"""Tell a connection's owner in Discord when it pauses and when it is resumed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any

import discord

from bot.cogs.connections._buttons import ResumeConnectionButton
from bot.notices import render_pause_notice, render_resume_notice
from storage.models import User

if TYPE_CHECKING:
    from bot.client import MidjauBot
    from pipeline.engine import Engine
    from pipeline.health import ConnectionHealth

log = logging.getLogger(__name__)


class ConnectionNotices:
    """Tell a connection's owner in Discord when it is paused and when it is resumed.

    Posting runs in background tasks, so a slow or failing Discord call never holds up
    the engine that reported the pause.
    """

    def __init__(self, bot: MidjauBot) -> None:
        self.bot = bot
        self._tasks: set[asyncio.Task[None]] = set()
        # Pause notices that still show a Resume button, by connection id. They are kept in
        # memory only, so after a restart older notices keep their button until pressed.
        self._notices: dict[int, list[discord.Message]] = {}

    async def on_connection_paused(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Post the pause notice with a Resume button, in the background."""
        self._spawn(self._post_pause(health, channel_ids), f"notice-paused-{health.connection_id}")

    async def on_connection_resumed(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        """Post that the connection is resumed, in the background."""
        self._spawn(
            self._post_resume(health, channel_ids), f"notice-resumed-{health.connection_id}"
        )

    async def close(self) -> None:
        """Cancel notices still being posted."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_pause(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        try:
            owner_id = await owner_discord_id(self.bot.engine, health.user_id)
            mention = f"<@{owner_id}>" if owner_id is not None else None
            view = discord.ui.View(timeout=None)
            view.add_item(ResumeConnectionButton(health.connection_id))
            sent = await self._deliver(
                health,
                channel_ids,
                owner_id,
                content=render_pause_notice(health, mention),
                view=view,
                allowed_mentions=_mention_only(owner_id),
            )
            if not sent:
                log.warning("connection %s: the paused notice reached nobody", health.connection_id)
                return
            self._notices.setdefault(health.connection_id, []).extend(sent)
            log.info(
                "connection %s: paused notice posted %d time(s)", health.connection_id, len(sent)
            )
        except Exception:
            log.exception("connection %s: posting the paused notice failed", health.connection_id)

    async def _post_resume(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        try:
            notices = self._notices.pop(health.connection_id, [])
            await _remove_buttons(notices)
            if not channel_ids:
                # Say it where the pause was announced, when that is known.
                channel_ids = _unique(str(notice.channel.id) for notice in notices)
            owner_id = await owner_discord_id(self.bot.engine, health.user_id)
            await self._deliver(health, channel_ids, owner_id, content=render_resume_notice(health))
            log.info("connection %s: resumed notice posted", health.connection_id)
        except Exception:
            log.exception("connection %s: posting the resumed notice failed", health.connection_id)

    async def _deliver(
        self,
        health: ConnectionHealth,
        channel_ids: list[str],
        owner_id: int | None,
        **send: Any,
    ) -> list[discord.Message]:
        """Send to each channel given; failing that, DM the owner or use the connection's channel.

        The connection's own channel is the last resort because the bot is in that server
        and the owner watches Midjourney there.
        """
        sent = [
            message
            for channel_id in _unique(channel_ids)
            if (message := await self._try_send(self._channel(channel_id), send)) is not None
        ]
        if sent:
            return sent

        if owner_id is not None:
            try:
                direct = await self.bot.create_dm(discord.Object(id=owner_id))
            except discord.HTTPException as error:
                log.warning("could not open a DM with Discord user %s: %s", owner_id, error)
            else:
                if (message := await self._try_send(direct, send)) is not None:
                    return [message]

        message = await self._try_send(self._channel(health.channel_id), send)
        return [message] if message is not None else []

    async def _try_send(
        self, channel: discord.abc.Messageable, send: dict[str, Any]
    ) -> discord.Message | None:
        try:
            return await channel.send(**send)
        except discord.HTTPException as error:
            log.warning("could not post a connection notice in %s: %s", _where(channel), error)
            return None

    def _channel(self, channel_id: str) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(int(channel_id), type=discord.ChannelType.text)


async def owner_discord_id(engine: Engine, user_id: int) -> int | None:
    """Return the Discord user id of a MidJAu user, or None when it is not a Discord user."""
    async with engine.db.sessions() as session:
        user = await session.get(User, user_id)
    if user is None or not user.discord_user_id or not user.discord_user_id.isdigit():
        return None
    return int(user.discord_user_id)


async def _remove_buttons(notices: list[discord.Message]) -> None:
    for notice in notices:
        try:
            await notice.edit(view=None)
        except discord.HTTPException as error:
            log.warning("could not remove the Resume button of message %s: %s", notice.id, error)


def _mention_only(owner_id: int | None) -> discord.AllowedMentions:
    # Mentions are off bot-wide; a pause notice pings its owner and nobody else.
    if owner_id is None:
        return discord.AllowedMentions.none()
    return discord.AllowedMentions(
        everyone=False, roles=False, replied_user=False, users=[discord.Object(id=owner_id)]
    )


def _where(channel: discord.abc.Messageable) -> str:
    channel_id = getattr(channel, "id", None)
    return f"channel {channel_id}" if channel_id is not None else repr(channel)


def _unique(channel_ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(channel_ids))
