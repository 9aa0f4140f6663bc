"""The ``/batch`` commands and the dropped-sheet listener."""

from __future__ import annotations

import asyncio
import io
import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.cogs.batches._delete import DeleteConfirmation, confirmation_text, why_not_deletable
from bot.cogs.batches._retry import (
    describe_finished,
    describe_for_retry,
    finished_choices,
    retry_batch,
)
from bot.cogs.batches._sheets import compose_reply, is_sheet, prepare_sheet
from bot.cogs.errors import UNEXPECTED_MESSAGE, describe_error
from bot.errors import BatchNotFoundError, BotUserError
from bot.progress import status_text
from bot.text import MESSAGE_LIMIT, join_within
from pipeline.durations import format_duration
from pipeline.intake import write_template
from pipeline.progress import BatchOptions, BatchProgress

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

TEMPLATE_FILENAME = "midjau-template.xlsx"
# One /batch run per user every few seconds, so a double submit does not make two batches.
RUN_COOLDOWN_SECONDS = 5.0

UPSCALE_CHOICES = {
    "none": (),
    "U1": (1,),
    "U2": (2,),
    "U3": (3,),
    "U4": (4,),
    "all": (1, 2, 3, 4),
}


class Batches(
    commands.GroupCog,
    group_name="batch",
    group_description="Run sheets of Midjourney prompts and follow their batches.",
):
    """Slash commands for batches, and the confirm flow for sheets dropped in a channel."""

    def __init__(self, bot: MidjauBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="run")
    @app_commands.checks.cooldown(
        1, RUN_COOLDOWN_SECONDS, key=lambda interaction: interaction.user.id
    )
    @app_commands.describe(
        sheet="Your prompts: an .xlsx, .xlsm or .csv file with a 'prompt' column.",
        upscale="Upscales for rows whose own 'upscale' cell is empty. Default: none.",
        split_grids="Also cut each 2×2 grid into four separate images. Default: no.",
    )
    @app_commands.choices(
        upscale=[app_commands.Choice(name=name, value=name) for name in UPSCALE_CHOICES]
    )
    async def run(
        self,
        interaction: discord.Interaction,
        sheet: discord.Attachment,
        upscale: str = "none",
        split_grids: bool = False,
    ) -> None:
        """Run every row of a prompt sheet through Midjourney; get a ZIP and a report back."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        options = BatchOptions(default_upscales=UPSCALE_CHOICES[upscale], split_grids=split_grids)
        prepared = await prepare_sheet(
            self.bot,
            author=interaction.user,
            attachment=sheet,
            options=options,
            channel_id=_channel_id(interaction),
            start_if_valid=True,
        )

        reply = compose_reply(prepared)
        kwargs: dict[str, Any] = {"files": reply.files, "ephemeral": True}
        if reply.view is not None:
            kwargs["view"] = reply.view
        await interaction.followup.send(reply.content, **kwargs)

    @app_commands.command(name="status")
    async def status(self, interaction: discord.Interaction) -> None:
        """Show your batches that have not finished, with their progress."""
        batches = await self._active_batches(interaction)
        if not batches:
            await interaction.response.send_message(
                "You have no batches running. Start one with `/batch run`.", ephemeral=True
            )
            return
        lines = [describe_batch(progress) for progress in batches]
        await interaction.response.send_message(join_within(lines, MESSAGE_LIMIT), ephemeral=True)

    @app_commands.command(name="cancel")
    @app_commands.describe(batch="The batch to cancel. Default: your most recent running batch.")
    async def cancel(self, interaction: discord.Interaction, batch: int | None = None) -> None:
        """Cancel one of your batches; jobs already at Midjourney may still finish."""
        batches = await self._active_batches(interaction)
        batch_ids = [progress.batch_id for progress in batches]
        if batch is None and not batch_ids:
            raise BatchNotFoundError("You have no running batch to cancel.")
        if batch is not None and batch not in batch_ids:
            raise BatchNotFoundError(
                f"Batch {batch} is not one of your running batches. "
                "`/batch status` lists the ones you can cancel."
            )

        target = batch if batch is not None else max(batch_ids)
        user_id = await self._user_id(interaction)
        if not await self.bot.engine.cancel_batch(target, user_id):
            raise BatchNotFoundError(f"Batch {target} has already ended or is being cancelled.")
        log.info("batch %s cancelled by Discord user %s", target, interaction.user.id)
        await interaction.response.send_message(
            f"Batch {target} is cancelled. Jobs already at Midjourney may still finish; "
            "nothing new is sent, and the results so far are posted here.",
            ephemeral=True,
        )

    @cancel.autocomplete("batch")
    async def cancel_batch_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Offer the user's running batches, newest first."""
        batches = await self._active_batches(interaction)
        choices = [
            app_commands.Choice(name=describe_batch_short(progress), value=progress.batch_id)
            for progress in sorted(batches, key=lambda item: item.batch_id, reverse=True)
            if current.strip() in str(progress.batch_id)
        ]
        return choices[:25]

    @app_commands.command(name="retry")
    @app_commands.describe(
        batch="The finished batch to retry. Default: your latest finished batch."
    )
    async def retry(self, interaction: discord.Interaction, batch: int | None = None) -> None:
        """Run the failed and cancelled rows of a finished batch again, as a new batch."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        content = await retry_batch(self.bot, interaction, batch)
        await interaction.followup.send(content, ephemeral=True)

    @retry.autocomplete("batch")
    async def retry_batch_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Offer the user's recently finished batches, newest first."""
        return await finished_choices(self.bot, interaction, current, describe_for_retry)

    @app_commands.command(name="delete")
    @app_commands.describe(
        batch="The finished batch to delete, with its prompts, images and files."
    )
    async def delete(self, interaction: discord.Interaction, batch: int) -> None:
        """Delete a finished batch for good: its prompts, images and files. Asks first."""
        user_id = await self._user_id(interaction)
        if not await self.bot.engine.owns_finished_batch(batch, user_id):
            raise BatchNotFoundError(await why_not_deletable(self.bot, batch, user_id))
        view = DeleteConfirmation(self.bot, batch, user_id, interaction.user.id)
        await interaction.response.send_message(confirmation_text(batch), view=view, ephemeral=True)
        view.question = interaction

    @delete.autocomplete("batch")
    async def delete_batch_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[int]]:
        """Offer the user's recently finished batches, newest first."""
        return await finished_choices(self.bot, interaction, current, describe_finished)

    @app_commands.command(name="template")
    async def template(self, interaction: discord.Interaction) -> None:
        """Get an example sheet to fill in; its second tab explains every column."""
        await interaction.response.defer(thinking=True, ephemeral=True)
        data = await make_template()
        await interaction.followup.send(
            "Fill in one prompt per row, then attach the sheet to `/batch run`.",
            file=discord.File(io.BytesIO(data), filename=TEMPLATE_FILENAME),
            ephemeral=True,
        )

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """Reply to a sheet dropped in a watched channel with its summary and a Run button."""
        if message.author.bot or message.guild is None:
            return
        watched = self.bot.settings.discord.watched_channel_ids
        if watched and message.channel.id not in watched:
            return
        for attachment in message.attachments:
            if is_sheet(attachment):
                await self._answer_dropped_sheet(message, attachment)

    async def _answer_dropped_sheet(
        self, message: discord.Message, attachment: discord.Attachment
    ) -> None:
        try:
            prepared = await prepare_sheet(
                self.bot,
                author=message.author,
                attachment=attachment,
                options=BatchOptions(),
                channel_id=message.channel.id,
                start_if_valid=False,
            )
        except Exception as error:
            text = describe_error(error)
            if text is None:
                log.exception("reading the sheet in message %s failed", message.id)
                text = UNEXPECTED_MESSAGE
            await message.reply(text, mention_author=False)
            return

        reply = compose_reply(prepared)
        kwargs: dict[str, Any] = {"files": reply.files, "mention_author": False}
        if reply.view is not None:
            kwargs["view"] = reply.view
        await message.reply(reply.content, **kwargs)

    async def _user_id(self, interaction: discord.Interaction) -> int:
        user = interaction.user
        return await self.bot.engine.ensure_user(str(user.id), user.display_name)

    async def _active_batches(self, interaction: discord.Interaction) -> list[BatchProgress]:
        return list(await self.bot.engine.active_batches(await self._user_id(interaction)))


def describe_batch(progress: BatchProgress) -> str:
    """Describe a batch's status and job counts in one line."""
    line = (
        f"**Batch {progress.batch_id}** · {status_text(progress.status)} · "
        f"{progress.finished}/{progress.total} "
        f"jobs · done {progress.done} · failed {progress.failed} · running {progress.running} · "
        f"queued {progress.queued}"
    )
    if progress.eta_seconds is not None:
        line += f" · ETA {format_duration(progress.eta_seconds)}"
    return line


def describe_batch_short(progress: BatchProgress) -> str:
    """Label a batch for the autocomplete list (at most 100 characters)."""
    return (
        f"Batch {progress.batch_id} · {progress.status} · {progress.finished}/{progress.total} jobs"
    )


async def make_template() -> bytes:
    """Write the template sheet in a thread and return its bytes."""
    return await asyncio.to_thread(_template_bytes)


def _template_bytes() -> bytes:
    with tempfile.TemporaryDirectory(prefix="midjau-template-") as folder:
        path = Path(folder) / TEMPLATE_FILENAME
        write_template(path)
        return path.read_bytes()


def _channel_id(interaction: discord.Interaction) -> int:
    if interaction.channel_id is None:
        raise BotUserError("Run this command in a server channel.")
    return interaction.channel_id
