"""The ``/connection`` commands: the health of each connection, and the fault choices."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.connections._buttons import (
    MAX_BUTTONS,
    ConnectionNotFoundError,
    ensure_clicker,
    find_connection,
    resume_view,
)
from bot.errors import BotUserError, NoConnectionError
from bot.notices import connection_name, describe_choices, render_status

if TYPE_CHECKING:
    from bot.client import MidjauBot
    from pipeline.health import ConnectionHealth

log = logging.getLogger(__name__)


class Connections(
    commands.GroupCog,
    group_name="connection",
    group_description="See whether your Midjourney connections work, and set their choices.",
):
    """Slash commands for the health and the fault choices of the user's connections."""

    def __init__(self, bot: MidjauBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show each of your Midjourney connections: working or paused and why, and your choices."""
        connections = await self._connections(interaction)
        paused = [health for health in connections if not health.working]
        view = resume_view(paused)
        if view is None:
            await interaction.response.send_message(render_status(connections), ephemeral=True)
            return
        await interaction.response.send_message(
            render_status(connections), view=view, ephemeral=True
        )

    @app_commands.command(name="settings")
    @app_commands.describe(
        relax_when_fast_used_up="When fast hours run out, go on in relax mode instead of pausing.",
        appeal_soft_moderation="On soft moderation, press Appeal instead of failing the row.",
        connection="The connection to change. Default: your only connection.",
    )
    async def change_settings(
        self,
        interaction: discord.Interaction,
        relax_when_fast_used_up: bool | None = None,
        appeal_soft_moderation: bool | None = None,
        connection: int | None = None,
    ) -> None:
        """Choose what MidJAu does when fast hours run out and on soft moderation."""
        user_id = await ensure_clicker(self.bot, interaction)
        target = pick_connection(await self._connections(interaction), connection)
        if relax_when_fast_used_up is None and appeal_soft_moderation is None:
            await interaction.response.send_message(
                f"Nothing changed for **{connection_name(target)}**. {describe_choices(target)}",
                ephemeral=True,
            )
            return

        changed = await self.bot.engine.set_connection_choices(
            target.connection_id,
            user_id,
            relax_when_fast_used_up=relax_when_fast_used_up,
            appeal_soft_moderation=appeal_soft_moderation,
        )
        if not changed:
            raise ConnectionNotFoundError(target.connection_id)
        updated = await find_connection(self.bot.engine, user_id, target.connection_id)
        log.info(
            "connection %s: choices set by Discord user %s (relax %s, appeal %s)",
            target.connection_id,
            interaction.user.id,
            relax_when_fast_used_up,
            appeal_soft_moderation,
        )
        await interaction.response.send_message(
            f"Saved for **{connection_name(updated)}**. {describe_choices(updated)}",
            ephemeral=True,
        )

    @change_settings.autocomplete("connection")
    async def connection_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Offer the user's connections by label."""
        user_id = await ensure_clicker(self.bot, interaction)
        connections = await self.bot.engine.connection_health(user_id)
        typed = current.strip().casefold()
        return [
            app_commands.Choice(name=connection_name(health)[:100], value=health.connection_id)
            for health in connections
            if typed in connection_name(health).casefold() or typed in str(health.connection_id)
        ][:MAX_BUTTONS]

    async def _connections(self, interaction: discord.Interaction) -> list[ConnectionHealth]:
        user_id = await ensure_clicker(self.bot, interaction)
        connections = list(await self.bot.engine.connection_health(user_id))
        if not connections:
            raise NoConnectionError(self.bot.settings.web)
        return connections


def pick_connection(
    connections: list[ConnectionHealth], connection_id: int | None
) -> ConnectionHealth:
    """Return the connection the user named, or their only one; raise when it is ambiguous."""
    if connection_id is not None:
        for health in connections:
            if health.connection_id == connection_id:
                return health
        raise ConnectionNotFoundError(connection_id)
    if len(connections) > 1:
        raise BotUserError(
            f"You have {len(connections)} connections. Pick one with the `connection` option; "
            "`/connection status` lists them."
        )
    return connections[0]
