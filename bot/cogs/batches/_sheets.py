"""From a sheet attached in Discord to a batch: checks, reading, and the reply that follows."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING

import discord

from bot.cogs.batches._buttons import CancelBatchButton, RunBatchButton
from bot.cogs.batches._linking import require_linked_account
from bot.cogs.batches._summary import problems_file, render_summary, summary_header
from bot.errors import NoConnectionError, SheetRejectedError
from bot.text import defuse_mentions, shorten
from pipeline.intake.model import SheetIntake
from pipeline.progress import BatchOptions
from storage.models import BatchOrigin

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".csv")
MIB = 1024 * 1024


def is_sheet(attachment: discord.Attachment) -> bool:
    """Tell whether an attachment's name ends like a sheet MidJAu reads."""
    return PurePath(attachment.filename).suffix.lower() in SHEET_SUFFIXES


def check_attachment(attachment: discord.Attachment, max_bytes: int) -> None:
    """Reject a file MidJAu cannot read, or one too big, before downloading it."""
    name = f"`{shorten(defuse_mentions(attachment.filename), 100)}`"
    if not is_sheet(attachment):
        raise SheetRejectedError(
            f"{name} is not a sheet MidJAu reads. Attach an .xlsx, .xlsm or .csv file; "
            "`/batch template` gives you one to start from."
        )
    if attachment.size > max_bytes:
        raise SheetRejectedError(
            f"{name} is {attachment.size / MIB:.1f} MiB; the limit is {max_bytes / MIB:.1f} MiB. "
            "Remove unused sheets, images or formatting, or split the rows over several files."
        )


@dataclass(slots=True)
class PreparedSheet:
    """A sheet read from Discord and, when any row can run, the batch made from it."""

    intake: SheetIntake
    batch_id: int | None
    started: bool
    total_jobs: int = 0
    files: list[discord.File] = field(default_factory=list)
    # The notice of the days the batch takes at its connection's daily cap, if over one.
    pace_notice: str | None = None


async def prepare_sheet(
    bot: MidjauBot,
    *,
    author: discord.abc.User,
    attachment: discord.Attachment,
    options: BatchOptions,
    channel_id: int,
    start_if_valid: bool,
) -> PreparedSheet:
    """Read the attached sheet and create its batch, started at once or awaiting a click.

    The batch starts at once only when ``start_if_valid`` is set and no row is invalid;
    otherwise it waits for the Run button. A sheet without one valid row makes no batch.
    """
    check_attachment(attachment, bot.settings.intake.max_upload_bytes)
    await require_linked_account(bot, author.id)
    engine = bot.engine
    user_id = await engine.ensure_user(str(author.id), author.display_name)
    # A restricted user's connections are all paused, so check this before "no connection".
    await engine.check_processing_allowed(user_id)
    if await engine.connection_for(user_id) is None:
        raise NoConnectionError(bot.settings.web)

    data = await attachment.read()
    intake = await engine.read_sheet(data, attachment.filename)
    if not intake.accepted_rows:
        return PreparedSheet(intake=intake, batch_id=None, started=False)

    start = start_if_valid and not intake.problems
    batch_id = await engine.create_batch(
        user_id,
        intake,
        options,
        origin=BatchOrigin.DISCORD,
        discord_channel_id=str(channel_id),
        confirmed=start,
    )
    log.info(
        "batch %s from %r by Discord user %s: %d rows, %d jobs, %s",
        batch_id,
        attachment.filename,
        author.id,
        len(intake.accepted_rows),
        intake.job_count,
        "started" if start else "awaiting confirmation",
    )
    if start:
        bot.reporter.track(await engine.progress(batch_id))
    return PreparedSheet(
        intake=intake,
        batch_id=batch_id,
        started=start,
        total_jobs=intake.job_count,
        pace_notice=await engine.pace_notice(batch_id),
    )


@dataclass(slots=True)
class SheetReply:
    """The reply to a sheet: text, the problems file, and buttons."""

    content: str
    files: list[discord.File]
    view: discord.ui.View | None


def compose_reply(prepared: PreparedSheet) -> SheetReply:
    """Compose the reply to a sheet: started, waiting for a click, or nothing to run."""
    intake = prepared.intake
    files = [file for file in [problems_file(intake)] if file is not None]

    if prepared.batch_id is None:
        closing = "Nothing can run. Fix the rows listed and send the sheet again."
        return SheetReply(render_summary(intake, closing=closing), files, None)

    notes = [prepared.pace_notice] if prepared.pace_notice else []
    if prepared.started:
        closing = (
            f"Batch {prepared.batch_id} started with {prepared.total_jobs} jobs; "
            "its progress is posted in this channel."
        )
        lines = [defuse_mentions(summary_header(intake)), *(f"Note: {n}" for n in notes)]
        content = "\n".join([*lines, closing])
        return SheetReply(content, files, None)

    view = discord.ui.View(timeout=None)
    accepted = len(intake.accepted_rows)
    if intake.problems:
        closing = "Fix the sheet and send it again, or run the valid rows now."
        label = f"Run the {accepted} valid row{'s' if accepted != 1 else ''}"
    else:
        closing = "Press Run to start."
        label = "Run this sheet"
    view.add_item(RunBatchButton(prepared.batch_id, label))
    view.add_item(CancelBatchButton(prepared.batch_id))
    return SheetReply(render_summary(intake, closing=closing, notes=notes), files, view)
