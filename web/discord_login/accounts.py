"""MidJAu accounts behind a Discord login: find, link, and create them."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import Batch, MidjourneyConnection, User, utcnow
from web.accounts.users import add_sign_up_consent, find_user_by_email
from web.discord_login.client import DiscordIdentity

_log = logging.getLogger(__name__)


class LinkRejectedError(Exception):
    """Linking a Discord account was rejected. ``str(error)`` states why and what to do next."""


def is_site_account(user: User) -> bool:
    """Tell whether ``user`` was made on the site, not a row the bot created for a Discord id.

    Only the site's sign-up and Discord welcome forms record the terms acceptance.
    """
    return user.terms_accepted_at is not None


async def user_by_discord_id(db: Database, discord_user_id: str) -> User | None:
    """Return the user with this Discord id, if any."""
    async with db.sessions() as session:
        return await session.scalar(select(User).where(User.discord_user_id == discord_user_id))


async def user_by_email(db: Database, email: str) -> User | None:
    """Return the user with this email, if any."""
    async with db.sessions() as session:
        return await find_user_by_email(session, email)


async def link_discord(db: Database, user_id: int, identity: DiscordIdentity) -> bool:
    """Link the Discord account to the user, and return False when it was linked already.

    A row the bot made for this Discord id, with no batch and no connection, gives way to
    the link. Any other account that has the Discord id keeps it and the link is rejected.
    """
    try:
        async with db.sessions() as session, session.begin():
            user = await session.get(User, user_id)
            if user is None:
                raise LinkRejectedError("Your account no longer exists. Log in again.")
            if user.discord_user_id == identity.id:
                return False
            if user.discord_user_id is not None:
                raise LinkRejectedError(
                    "Your MidJAu account is already linked to another Discord account. "
                    "Unlink it in Settings first, then link this one."
                )
            await _free_discord_id(session, identity.id)
            user.discord_user_id = identity.id
            if not user.display_name:
                user.display_name = identity.display_name[:100]
    except IntegrityError:
        # Another request linked the same Discord id between the check and the commit.
        raise LinkRejectedError(_TAKEN_MESSAGE) from None
    _log.info("user %s linked a Discord account", user_id)
    return True


_TAKEN_MESSAGE = (
    "This Discord account is already linked to another MidJAu account. Log out and use "
    "Log in with Discord to open that account, or unlink Discord there first."
)


async def _free_discord_id(session: AsyncSession, discord_user_id: str) -> None:
    holder = await session.scalar(select(User).where(User.discord_user_id == discord_user_id))
    if holder is None:
        return
    if is_site_account(holder) or await _has_history(session, holder.id):
        raise LinkRejectedError(_TAKEN_MESSAGE)
    # An empty row, made when the person first ran a bot command. It has no batch or
    # connection (checked above), so deleting it loses nothing.
    await session.delete(holder)
    await session.flush()
    _log.info("removed empty bot-made user %s so its Discord id can be linked", holder.id)


async def _has_history(session: AsyncSession, user_id: int) -> bool:
    for model in (Batch, MidjourneyConnection):
        count = await session.scalar(
            select(func.count()).select_from(model).where(model.user_id == user_id)
        )
        if count:
            return True
    return False


async def complete_discord_sign_up(
    db: Database, identity: DiscordIdentity, *, terms_version: str, consent: dict[str, bool]
) -> User:
    """Create the account of a Discord user who accepted the terms, or finish the bot's row.

    As on the email sign-up, the cookie choice the visitor made, if any, becomes the
    account's first consent record. A Discord email that Discord has verified becomes the
    account's verified email, unless another account already uses it.
    """
    now = utcnow()
    async with db.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.discord_user_id == identity.id))
        if user is None:
            user = User(discord_user_id=identity.id, display_name=identity.display_name[:100])
            session.add(user)
        user.age_confirmed_at = now
        user.terms_version = terms_version
        user.terms_accepted_at = now
        if identity.email and identity.verified and user.email is None:
            if await find_user_by_email(session, identity.email) is None:
                user.email = identity.email
                user.email_verified_at = now
        await session.flush()
        add_sign_up_consent(session, user.id, consent)
    _log.info("user %s signed up with Discord", user.id)
    return user
