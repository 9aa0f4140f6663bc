"""The batch feature: ``/batch`` commands, dropped sheets, progress messages and results."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cogs.batches._buttons import CancelBatchButton, RunBatchButton
from bot.cogs.batches._commands import Batches
from bot.cogs.batches._reporter import BatchReporter

if TYPE_CHECKING:
    from bot.client import MidjauBot

__all__ = ["BatchReporter", "Batches", "setup"]


async def setup(bot: MidjauBot) -> None:
    """Add the batch commands and the buttons that confirm or cancel a batch."""
    bot.add_dynamic_items(RunBatchButton, CancelBatchButton)
    await bot.add_cog(Batches(bot))
