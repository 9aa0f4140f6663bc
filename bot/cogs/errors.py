"""The one error handler for the bot's slash commands and buttons.

Every error ends as a short ephemeral reply that states what failed and what to do next,
so users never see a traceback. Unexpected errors are logged with their traceback.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import BotUserError
from bot.text import echo
from pipeline.engine import EngineError
from pipeline.intake.model import IntakeError

log = logging.getLogger(__name__)

UNEXPECTED_MESSAGE = (
    "Something went wrong on MidJAu's side and it has been logged. "
    "Try again in a minute; if it keeps failing, tell the operator the time it happened."
)


def describe_error(error: BaseException) -> str | None:
    """Return the message a user should see for ``error``, or None when it is unexpected."""
    if isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError):
        return describe_error(error.original)
    if isinstance(error, BotUserError | EngineError):
        return str(error)
    if isinstance(error, IntakeError):
        return f"The sheet could not be read: {error}"
    if isinstance(error, app_commands.TransformerError):
        return f"`{error.value}` is not a valid value for this option. Pick one of the choices."
    if isinstance(error, app_commands.MissingPermissions):
        needed = ", ".join(error.missing_permissions)
        return f"You need the {needed} permission(s) in this channel to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        needed = ", ".join(error.missing_permissions)
        return f"MidJAu needs the {needed} permission(s) in this channel. Ask a server admin."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "Use this command in a server channel, not in direct messages."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use this command here."
    if isinstance(error, discord.Forbidden):
        return (
            "MidJAu is not allowed to post or attach files in this channel. Ask a server admin "
            "to give it the Send Messages and Attach Files permissions."
        )
    return None


async def send_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Reply to ``interaction`` with the short ephemeral message for ``error``."""
    message = describe_error(error)
    if message is None:
        log.exception(
            "unexpected error in %s by user %s in channel %s",
            _action_name(interaction),
            interaction.user.id,
            interaction.channel_id,
            exc_info=error,
        )
        message = UNEXPECTED_MESSAGE
    else:
        log.info(
            "%s by user %s failed: %r",
            _action_name(interaction),
            interaction.user.id,
            _original(error),
        )

    try:
        if interaction.response.is_done():
            await interaction.followup.send(echo(message), ephemeral=True)
        else:
            await interaction.response.send_message(echo(message), ephemeral=True)
    except discord.HTTPException as reply_error:
        # The interaction token lasts 15 minutes; after that no reply reaches the user.
        log.warning(
            "could not send the error reply to user %s: %s", interaction.user.id, reply_error
        )


def _original(error: BaseException) -> BaseException:
    if isinstance(error, app_commands.CommandInvokeError | commands.CommandInvokeError):
        return error.original
    return error


def _action_name(interaction: discord.Interaction) -> str:
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    return f"button {custom_id}" if custom_id else f"interaction {interaction.id}"


class Errors(commands.Cog):
    """Route app command errors to the one handler."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        self._previous_handler = bot.tree.on_error

    async def cog_load(self) -> None:
        self.bot.tree.on_error = send_error  # type: ignore[assignment,method-assign]

    async def cog_unload(self) -> None:
        self.bot.tree.on_error = self._previous_handler  # type: ignore[method-assign]


async def setup(bot: commands.Bot) -> None:
    """Load the error handler cog."""
    await bot.add_cog(Errors(bot))
