"""``/batch delete``: delete a finished batch for good, after the owner confirms it.

The confirmation is an ephemeral message with one button, valid for a few minutes. The
button does not survive a restart of the bot, because it answers a question just asked.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord

from bot.cogs.errors import send_error
from bot.errors import BatchNotFoundError

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

# Seconds the Delete button of a confirmation works.
CONFIRM_SECONDS = 180.0


def confirmation_text(batch_id: int) -> str:
    """Return the question that comes with the Delete button."""
    return (
        f"Delete batch {batch_id} for good? Its prompts, report lines, images and output "
        "files are deleted from MidJAu, and this cannot be undone. The images and files "
        "already posted in Discord stay there."
    )


class DeleteConfirmation(discord.ui.View):
    """The Delete button under the question; only the user who asked can press it."""

    def __init__(self, bot: MidjauBot, batch_id: int, user_id: int, requester_id: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot = bot
        self.batch_id = batch_id
        self.user_id = user_id
        self.requester_id = requester_id
        self.confirm.label = f"Delete batch {batch_id}"

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Let only the user who ran the command press the button."""
        return interaction.user.id == self.requester_id

    @discord.ui.button(label="Delete", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction, _button: discord.ui.Button[Any]
    ) -> None:
        """Delete the batch and replace the question with what happened."""
        try:
            await interaction.response.defer()
            deleted = await self.bot.engine.delete_batch(self.batch_id, self.user_id)
            if deleted is None:
                raise BatchNotFoundError(
                    f"Batch {self.batch_id} is not one of your finished batches. A running "
                    "batch must be cancelled and finish first; `/batch status` lists them."
                )
            self.stop()
            await interaction.edit_original_response(
                content=(
                    f"Batch {self.batch_id} is deleted: its prompts, report lines, "
                    f"{deleted.images} images and {deleted.outputs} output files are gone "
                    "from MidJAu."
                ),
                view=None,
            )
            log.info("batch %s deleted by Discord user %s", self.batch_id, interaction.user.id)
        except Exception as error:
            await send_error(interaction, error)
