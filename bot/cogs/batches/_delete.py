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
from bot.text import plural
from storage.models import Batch, BatchStatus

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
    """The Delete button under the question, which only the user who asked can press."""

    def __init__(self, bot: MidjauBot, batch_id: int, user_id: int, requester_id: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.bot = bot
        self.batch_id = batch_id
        self.user_id = user_id
        self.requester_id = requester_id
        self.confirm.label = f"Delete batch {batch_id}"
        # The command's interaction, set once the question is sent, so the question can
        # be edited when it expires.
        self.question: discord.Interaction | None = None

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
                    await why_not_deletable(self.bot, self.batch_id, self.user_id)
                )
            self.stop()
            images = plural(deleted.images, "image")
            outputs = plural(deleted.outputs, "output file")
            await interaction.edit_original_response(
                content=(
                    f"Batch {self.batch_id} is deleted: its prompts, report lines, {images} "
                    f"and {outputs} are gone from MidJAu."
                ),
                view=None,
            )
            log.info("batch %s deleted by Discord user %s", self.batch_id, interaction.user.id)
        except Exception as error:
            await send_error(interaction, error)

    async def on_timeout(self) -> None:
        """Take the expired button off the question."""
        if self.question is None:
            return
        try:
            await self.question.edit_original_response(
                content=f"{confirmation_text(self.batch_id)}\n\nThe question expired; "
                "run `/batch delete` again to delete it.",
                view=None,
            )
        except discord.HTTPException:
            log.info("batch %s: the expired delete question could not be edited", self.batch_id)


async def why_not_deletable(bot: MidjauBot, batch_id: int, user_id: int) -> str:
    """Say why the user cannot delete batch ``batch_id``, and what to do instead."""
    async with bot.engine.db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    if batch is None or batch.user_id != user_id:
        return f"Batch {batch_id} is not one of your batches; it may be deleted already."
    if batch.status == BatchStatus.AWAITING_CONFIRMATION:
        return f"Batch {batch_id} was never run: press Cancel on its reply to discard it."
    return (
        f"Batch {batch_id} has not finished: cancel it with `/batch cancel` and wait until "
        "its results are posted, then delete it."
    )
