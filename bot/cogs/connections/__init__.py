"""The health of each Midjourney connection in Discord: notices, Resume, ``/connection``.

When the engine pauses a connection (CAPTCHA, pending moderation, token rejected, fast
hours used up, …) its owner gets a notice with a Resume button, in the channels of their
open batches or else by direct message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cogs.connections._buttons import RESUME_PREFIX, ResumeConnectionButton
from bot.cogs.connections._commands import Connections
from bot.cogs.connections._notices import ConnectionNotices

if TYPE_CHECKING:
    from bot.client import MidjauBot

__all__ = ["RESUME_PREFIX", "ConnectionNotices", "Connections", "ResumeConnectionButton", "setup"]


async def setup(bot: MidjauBot) -> None:
    """Add the connection commands and the Resume button."""
    bot.add_dynamic_items(ResumeConnectionButton)
    await bot.add_cog(Connections(bot))
