"""Errors the bot raises for the user to read; the error handler cog shows their message."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from midjau.settings import WebSettings


class BotUserError(Exception):
    """Something the user can fix; ``str(error)`` states what failed and what to do."""


class SheetRejectedError(BotUserError):
    """The attached file is not a sheet MidJAu reads, or it is too big to read."""


class NoConnectionError(BotUserError):
    """The user has not connected a Discord account for Midjourney yet."""

    def __init__(self, web: WebSettings) -> None:
        site = web.site_url.rstrip("/")
        message = (
            "You have not connected a Midjourney account yet. Connect one on MidJAu's site "
            f"({site}/dashboard/settings/connections). "
        )
        if web.discord_login:
            message += (
                "If you did so with an account made by email, link this Discord account to "
                f"it there first: {site}/login/discord. "
            )
        message += (
            "Or ask the operator to run `midjau connect` with your Discord account, server "
            "and channel. Then try again."
        )
        super().__init__(message)


class AccountNotLinkedError(BotUserError):
    """The Discord user has no MidJAu account linked to their Discord id yet."""

    def __init__(self, link_url: str) -> None:
        super().__init__(
            f"Link your Discord account at {link_url} first: log in with Discord there, "
            "then run the sheet again."
        )


class BatchNotFoundError(BotUserError):
    """The batch does not exist, is not the user's, or has already ended."""


class NotBatchOwnerError(BotUserError):
    """Someone pressed a button on a batch that belongs to another user."""

    def __init__(self, batch_id: int) -> None:
        super().__init__(
            f"Batch {batch_id} is not one of your open batches: it belongs to someone else "
            "or has already ended. `/batch status` lists yours."
        )
