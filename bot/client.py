"""The MidJAu Discord bot: intents, mentions policy, cogs and the app command sync."""

from __future__ import annotations

import asyncio
import logging

import discord
import yarl
from discord.ext import commands

from bot.cogs.batches import BatchReporter
from bot.cogs.connections import ConnectionNotices
from midjau.settings import DiscordSettings, Settings
from pipeline.engine import Engine

log = logging.getLogger(__name__)

# discord.py 2.7's own defaults; settings equal to these leave discord.py untouched.
DISCORD_API_BASE = "https://discord.com/api/v10"
DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"

EXTENSIONS = (
    "bot.cogs.errors",
    "bot.cogs.batches",
    "bot.cogs.connections",
    "bot.cogs.watcher",
)


def point_discord_py_at(settings: DiscordSettings) -> None:
    """Aim discord.py's REST base and gateway at ``settings`` when they are not Discord's.

    discord.py has no constructor option for either address: both are class attributes,
    and a plain ``Bot`` dials ``DEFAULT_GATEWAY`` without asking ``/gateway`` first. The
    change is process-wide, so every discord.py client in the process follows it.
    """
    api_base = settings.api_base.rstrip("/")
    if api_base != DISCORD_API_BASE:
        discord.http.Route.BASE = api_base
        log.info("discord.py REST calls go to %s", api_base)
    if settings.gateway_url.rstrip("/") != DISCORD_GATEWAY_URL.rstrip("/"):
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
        log.info("discord.py gateway connects to %s", settings.gateway_url)


def bot_intents() -> discord.Intents:
    """Return the intents MidJAu needs: messages with their content, and guilds.

    The members intent stays off: the bot never lists members, and with it on
    discord.py would chunk every guild at start.
    """
    intents = discord.Intents.default()
    intents.message_content = True
    intents.guilds = True
    intents.members = False
    return intents


class MidjauBot(commands.Bot):
    """The MidJAu bot: takes sheets, shows batch progress, posts results, watches Midjourney."""

    def __init__(
        self, settings: Settings, engine: Engine, *, download_secret: bytes | None = None
    ) -> None:
        point_discord_py_at(settings.discord)
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=settings.discord.guild_ready_timeout,
        )
        self.settings = settings
        self.engine = engine
        # Signs download links for outputs over the upload limit; None turns links off.
        self.download_secret = download_secret
        # Shows each Discord batch's progress and posts its results; fed by the engine.
        self.reporter = BatchReporter(self)
        # Tells a connection's owner when it pauses or resumes; fed by the engine.
        self.connection_notices = ConnectionNotices(self)

    async def setup_hook(self) -> None:
        """Load the cogs, listen to the engine, then publish the slash commands to Discord."""
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.engine.add_listener(self.reporter)
        self.engine.add_connection_listener(self.connection_notices)

        # A global sync: the guild list is not known before the gateway's READY.
        synced = await self.tree.sync()
        log.info("synced %d application commands", len(synced))

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Wait the configured delay before identifying again (discord.py waits 5 s)."""
        if not initial:
            await asyncio.sleep(self.settings.discord.reidentify_delay)

    async def close(self) -> None:
        """Stop editing progress messages and posting notices, then disconnect from Discord."""
        await self.reporter.close()
        await self.connection_notices.close()
        await super().close()

    async def on_message(self, message: discord.Message, /) -> None:
        """Skip prefix-command parsing, because MidJAu has only slash commands.

        The cogs' own ``on_message`` listeners still receive every message.
        """

    async def on_ready(self) -> None:
        """Log the bot's user and how many servers it is in."""
        log.info(
            "bot ready as %s (%s) in %d guilds", self.user, self.application_id, len(self.guilds)
        )
