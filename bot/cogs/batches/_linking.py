"""The check that a Discord user has linked a MidJAu account before running a sheet."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.errors import AccountNotLinkedError
from storage.models import User

if TYPE_CHECKING:
    from bot.client import MidjauBot


async def require_linked_account(bot: MidjauBot, discord_user_id: int) -> None:
    """Raise AccountNotLinkedError when the site is public and the Discord id has no account.

    Without a public site (the sandbox demo, a private install) the bot keeps creating
    users from their Discord id on the fly, as there is nowhere to send them.
    """
    public_url = bot.settings.web.public_url
    if not public_url:
        return
    async with bot.engine.db.sessions() as session:
        user = await session.scalar(
            select(User).where(User.discord_user_id == str(discord_user_id))
        )
    if user is None or not has_site_account(user):
        raise AccountNotLinkedError(f"{public_url.rstrip('/')}/login/discord")


def has_site_account(user: User) -> bool:
    """Tell whether ``user`` is an account made on the site, not a row the bot created.

    Only the site's sign-up and "Log in with Discord" forms record the terms acceptance.
    The site sets a Discord id only after Discord's OAuth2 proved it, and logging in needs a
    verified email or a Discord login, so such an account is linked.
    """
    return user.terms_accepted_at is not None
