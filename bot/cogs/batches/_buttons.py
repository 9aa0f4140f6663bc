"""Buttons that confirm or cancel a batch; they keep working after the bot restarts.

Each button's custom_id carries the batch id (``midjau:batch:run:41``), and discord.py's
dynamic items rebuild the button from any custom_id that matches, so no view has to be
registered again at start and buttons on old messages still work.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.cogs.errors import send_error
from bot.errors import BatchNotFoundError, NotBatchOwnerError
from bot.text import BUTTON_LABEL_LIMIT, shorten

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

RUN_PREFIX = "midjau:batch:run:"
CANCEL_PREFIX = "midjau:batch:cancel:"


async def require_owner(bot: MidjauBot, interaction: discord.Interaction, batch_id: int) -> int:
    """Return the clicker's MidJAu user id; raise NotBatchOwnerError if the batch is not theirs.

    A batch that has ended is no longer among the clicker's open batches either, so a
    late click on it is rejected the same way.
    """
    user_id = await bot.engine.ensure_user(str(interaction.user.id), interaction.user.display_name)
    open_batches = await bot.engine.active_batches(user_id)
    if batch_id not in {progress.batch_id for progress in open_batches}:
        raise NotBatchOwnerError(batch_id)
    return user_id


class RunBatchButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.escape(RUN_PREFIX) + r"(?P<batch_id>\d+)",
):
    """Start a batch that waits for confirmation (a dropped sheet, or one with invalid rows)."""

    def __init__(self, batch_id: int, label: str = "Run") -> None:
        super().__init__(
            discord.ui.Button(
                label=shorten(label, BUTTON_LABEL_LIMIT),
                style=discord.ButtonStyle.success,
                custom_id=f"{RUN_PREFIX}{batch_id}",
            )
        )
        self.batch_id = batch_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RunBatchButton:
        label = getattr(item, "label", None) or "Run"
        return cls(int(match["batch_id"]), label)

    async def callback(self, interaction: discord.Interaction) -> None:
        """Confirm the batch, take the buttons off the message and show its progress."""
        bot: MidjauBot = interaction.client  # type: ignore[assignment]
        try:
            await require_owner(bot, interaction, self.batch_id)
            await interaction.response.defer()
            await bot.engine.confirm_batch(self.batch_id)
            progress = await bot.engine.progress(self.batch_id)
            content = (
                f"Batch {self.batch_id} started with {progress.total} jobs; "
                "its progress is posted in this channel."
            )
            # The problems file stays attached: the user may still want to fix those rows.
            await interaction.edit_original_response(content=content, view=None)
            bot.reporter.track(progress)
            log.info("batch %s confirmed by Discord user %s", self.batch_id, interaction.user.id)
        except Exception as error:
            await send_error(interaction, error)


class CancelBatchButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=re.escape(CANCEL_PREFIX) + r"(?P<batch_id>\d+)",
):
    """Discard a batch that waits for confirmation, or cancel one that runs."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Cancel",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{CANCEL_PREFIX}{batch_id}",
            )
        )
        self.batch_id = batch_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelBatchButton:
        return cls(int(match["batch_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        """Discard or cancel the batch, remove the buttons and confirm it to the clicker."""
        bot: MidjauBot = interaction.client  # type: ignore[assignment]
        try:
            user_id = await require_owner(bot, interaction, self.batch_id)
            await interaction.response.defer()
            # A batch never run leaves nothing behind, where a cancelled one still posts
            # an empty ZIP and a report.
            if await bot.engine.discard_batch(self.batch_id, user_id):
                discarded = f"Batch {self.batch_id} is discarded; nothing was sent."
                # Like Run, this replaces the summary; the problems file stays attached.
                await interaction.edit_original_response(content=discarded, view=None)
                await interaction.followup.send(discarded, ephemeral=True)
                log.info(
                    "batch %s discarded by Discord user %s", self.batch_id, interaction.user.id
                )
                return
            if not await bot.engine.cancel_batch(self.batch_id, user_id):
                raise BatchNotFoundError(
                    f"Batch {self.batch_id} has already ended or is being cancelled."
                )
            await interaction.edit_original_response(view=None)
            await interaction.followup.send(
                f"Batch {self.batch_id} is cancelled. Jobs already at Midjourney may still "
                "finish; nothing new is sent.",
                ephemeral=True,
            )
            log.info("batch %s cancelled by Discord user %s", self.batch_id, interaction.user.id)
        except Exception as error:
            await send_error(interaction, error)
