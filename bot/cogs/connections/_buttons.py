"""The Resume button of a paused connection; it keeps working after the bot restarts.

The button's custom_id carries the connection id (``midjau:connection:resume:7``), and
discord.py's dynamic items rebuild the button from any custom_id that matches, so buttons
on old notices still work.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.cogs.errors import send_error
from bot.errors import BotUserError
from bot.notices import connection_name
from bot.text import BUTTON_LABEL_LIMIT, shorten

if TYPE_CHECKING:
    from bot.client import MidjauBot
    from pipeline.engine import Engine
    from pipeline.health import ConnectionHealth

log = logging.getLogger(__name__)

RESUME_PREFIX = "midjau:connection:resume:"
# Discord allows 25 buttons on one message.
MAX_BUTTONS = 25


class ConnectionNotFoundError(BotUserError):
    """The connection does not exist or belongs to another user."""

    def __init__(self, connection_id: int) -> None:
        super().__init__(
            f"Connection {connection_id} is not one of yours, so you cannot change or resume "
            "it. `/connection status` lists yours."
        )


class ResumeConnectionButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.escape(RESUME_PREFIX) + r"(?P<connection_id>\d+)",
):
    """Resume a paused connection; only its owner may press it."""

    def __init__(self, connection_id: int, label: str = "Resume") -> None:
        super().__init__(
            discord.ui.Button(
                label=shorten(label, BUTTON_LABEL_LIMIT),
                style=discord.ButtonStyle.success,
                custom_id=f"{RESUME_PREFIX}{connection_id}",
            )
        )
        self.connection_id = connection_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ResumeConnectionButton:
        label = getattr(item, "label", None) or "Resume"
        return cls(int(match["connection_id"]), label)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Resume the connection and take the button off the message."""
        bot: MidjauBot = interaction.client  # type: ignore[assignment]
        try:
            user_id = await ensure_clicker(bot, interaction)
            health = await find_connection(bot.engine, user_id, self.connection_id)
            if health.working:
                await interaction.response.edit_message(view=None)
                await interaction.followup.send(
                    f"**{connection_name(health)}** is already working; nothing to resume.",
                    ephemeral=True,
                )
                return

            await interaction.response.defer()
            if not await bot.engine.resume_connection(self.connection_id, user_id):
                raise ConnectionNotFoundError(self.connection_id)
            await interaction.edit_original_response(view=None)
            log.info(
                "connection %s resumed by Discord user %s", self.connection_id, interaction.user.id
            )
        except Exception as error:
            await send_error(interaction, error)


async def ensure_clicker(bot: MidjauBot, interaction: discord.Interaction) -> int:
    """Return the MidJAu user id of the Discord user behind the command or button press."""
    user = interaction.user
    return await bot.engine.ensure_user(str(user.id), user.display_name)


async def find_connection(engine: Engine, user_id: int, connection_id: int) -> ConnectionHealth:
    """Return the health of one of the user's connections; raise if it is not theirs."""
    for health in await engine.connection_health(user_id):
        if health.connection_id == connection_id:
            return health
    raise ConnectionNotFoundError(connection_id)


def resume_view(paused: list[ConnectionHealth]) -> discord.ui.View | None:
    """Return a view with a Resume button per paused connection, or None when there are none.

    With several buttons each one names its connection.
    """
    if not paused:
        return None
    view = discord.ui.View(timeout=None)
    for health in paused[:MAX_BUTTONS]:
        label = f"Resume {connection_name(health)}" if len(paused) > 1 else "Resume"
        view.add_item(ResumeConnectionButton(health.connection_id, label))
    return view
