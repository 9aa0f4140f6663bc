"""``/batch retry``: run the failed and cancelled rows of a finished batch again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.errors import BatchNotFoundError
from bot.text import shorten
from pipeline.retries import FinishedBatch
from storage.models import BatchOrigin

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

# Discord shows at most 25 autocomplete choices.
MAX_CHOICES = 25


async def retry_batch(
    bot: MidjauBot, interaction: discord.Interaction, batch_id: int | None
) -> str:
    """Start a batch of the failed rows of ``batch_id`` (default: the latest finished one).

    Return the reply for the user; raise BatchNotFoundError when nothing can be retried.
    """
    engine = bot.engine
    user_id = await engine.ensure_user(str(interaction.user.id), interaction.user.display_name)
    finished = await engine.finished_batches(user_id, limit=MAX_CHOICES)
    if batch_id is None and not finished:
        raise BatchNotFoundError("You have no finished batch to retry.")
    source = batch_id if batch_id is not None else finished[0].batch_id
    known = next((item for item in finished if item.batch_id == source), None)
    if known is not None and known.retryable_jobs == 0:
        raise BatchNotFoundError(_nothing_failed(source))

    channel_id = str(interaction.channel_id) if interaction.channel_id is not None else None
    retry_id = await engine.retry_failed(
        source, user_id, origin=BatchOrigin.DISCORD, discord_channel_id=channel_id
    )
    if retry_id is None:
        raise BatchNotFoundError(
            f"Batch {source} is not one of your finished batches, or it has no failed or "
            "cancelled rows. `/batch retry` offers your finished batches."
        )

    progress = await engine.progress(retry_id)
    bot.reporter.track(progress)
    log.info(
        "batch %s created by Discord user %s to retry batch %s",
        retry_id,
        interaction.user.id,
        source,
    )
    jobs = f"{progress.total} job{'s' if progress.total != 1 else ''}"
    return (
        f"Batch {retry_id} started with {jobs}: the failed and cancelled rows of batch "
        f"{source}. Its progress is posted in this channel."
    )


async def finished_choices(
    bot: MidjauBot,
    interaction: discord.Interaction,
    current: str,
    describe: Callable[[FinishedBatch], str],
) -> list[app_commands.Choice[int]]:
    """Offer the user's recently finished batches, newest first, labelled by ``describe``."""
    user = interaction.user
    user_id = await bot.engine.ensure_user(str(user.id), user.display_name)
    finished = await bot.engine.finished_batches(user_id, limit=MAX_CHOICES)
    return [
        app_commands.Choice(name=describe(item), value=item.batch_id)
        for item in finished
        if current.strip() in str(item.batch_id)
    ]


def describe_for_retry(item: FinishedBatch) -> str:
    """Label a finished batch with what a retry would run (at most 100 characters)."""
    retryable = f"{item.retryable_jobs} to retry" if item.retryable_jobs else "nothing to retry"
    return _with_filename(f"Batch {item.batch_id} · {item.status} · {retryable} · ", item)


def describe_finished(item: FinishedBatch) -> str:
    """Label a finished batch with its status and sheet (at most 100 characters)."""
    return _with_filename(f"Batch {item.batch_id} · {item.status} · ", item)


def _with_filename(label: str, item: FinishedBatch) -> str:
    return label + shorten(item.source_filename, 100 - len(label))


def _nothing_failed(batch_id: int) -> str:
    return (
        f"Batch {batch_id} has no failed or cancelled rows to retry. Invalid rows are "
        "not retried: fix them in the report's 'Failed rows' sheet and run it as a new batch."
    )
