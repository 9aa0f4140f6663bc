"""Keep each Discord batch's progress message current, and post the results when it ends."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.cogs.batches._buttons import CancelBatchButton
from bot.delivery import deliver_result
from bot.progress import EditThrottle, render_progress
from pipeline.progress import BatchProgress, BatchResult

if TYPE_CHECKING:
    from bot.client import MidjauBot

log = logging.getLogger(__name__)

# Batch states in which the progress message still offers a Cancel button.
_CANCELLABLE = frozenset({"queued", "running"})


class BatchReporter:
    """Receive the engine's batch news and show it in the batch's Discord channel.

    One ordinary channel message per batch shows progress; it is edited through a
    throttle, never more often than the configured interval. Channel messages are used
    and not the interaction's followups, because an interaction token expires after 15
    minutes while a batch can run for hours.
    """

    def __init__(self, bot: MidjauBot) -> None:
        self.bot = bot
        self._throttle: EditThrottle[int, BatchProgress] = EditThrottle(
            bot.settings.discord.progress_edit_interval, self._show_progress
        )
        self._message_ids: dict[int, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def track(self, progress: BatchProgress) -> None:
        """Show ``progress`` now or after the throttle interval; posts the message if needed."""
        # A batch waiting for its Run button gets no progress message until it starts.
        if progress.discord_channel_id is None or progress.status == "awaiting_confirmation":
            return
        self._throttle.submit(progress.batch_id, progress)

    async def on_batch_progress(self, progress: BatchProgress) -> None:
        """Queue an edit of the batch's progress message."""
        self.track(progress)

    async def on_batch_finished(self, result: BatchResult) -> None:
        """Post the batch's results in a background task so the engine is not held up."""
        if result.discord_channel_id is None:
            return
        task = asyncio.create_task(self._finish(result), name=f"deliver-batch-{result.batch_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Cancel pending edits and deliveries."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._throttle.close()

    async def _finish(self, result: BatchResult) -> None:
        try:
            await self._throttle.flush(result.batch_id)
            final = await self.bot.engine.progress(result.batch_id)
            await self._show_progress(result.batch_id, final)
            await self._deliver(result)
        except LookupError:
            # The owner deleted the batch, with its files, before the results went out.
            log.info("batch %s was deleted before its results were posted", result.batch_id)
        except Exception:
            log.exception("batch %s: posting the results failed", result.batch_id)
        finally:
            self._message_ids.pop(result.batch_id, None)

    async def _deliver(self, result: BatchResult) -> None:
        assert result.discord_channel_id is not None
        settings = self.bot.settings
        channel = self._channel(result.discord_channel_id)
        messages = await deliver_result(
            channel,
            result,
            upload_limit=settings.discord.upload_limit_bytes,
            public_url=settings.web.public_url,
            secret=self.bot.download_secret,
            ttl_seconds=int(settings.output_retention_days * 86400),
        )
        log.info("batch %s: posted the results in %d message(s)", result.batch_id, len(messages))

    async def _show_progress(self, batch_id: int, progress: BatchProgress) -> None:
        assert progress.discord_channel_id is not None
        channel = self._channel(progress.discord_channel_id)
        content = render_progress(progress)
        view = _cancel_view(batch_id) if progress.status in _CANCELLABLE else None

        message_id = self._message_ids.get(batch_id) or _optional_int(progress.progress_message_id)
        if message_id is not None:
            try:
                await channel.get_partial_message(message_id).edit(content=content, view=view)
                self._message_ids[batch_id] = message_id
                return
            except discord.NotFound:
                log.warning(
                    "batch %s: progress message %s was deleted; posting a new one",
                    batch_id,
                    message_id,
                )

        if view is None:
            message = await channel.send(content)
        else:
            message = await channel.send(content, view=view)
        self._message_ids[batch_id] = message.id
        await self.bot.engine.set_progress_message(batch_id, str(message.id))

    def _channel(self, channel_id: str) -> discord.PartialMessageable:
        return self.bot.get_partial_messageable(int(channel_id), type=discord.ChannelType.text)


def _cancel_view(batch_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelBatchButton(batch_id))
    return view


def _optional_int(value: str | None) -> int | None:
    return int(value) if value else None
