"""Users and their Midjourney connections in storage."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConnectionState, MidjourneyConnection, User


async def get_or_create_user(session: AsyncSession, discord_user_id: str, display_name: str) -> int:
    """Return the id of the user with this Discord id, adding the user when new."""
    user = await session.scalar(select(User).where(User.discord_user_id == discord_user_id))
    if user is None:
        user = User(discord_user_id=discord_user_id, display_name=display_name)
        session.add(user)
        await session.flush()
    return user.id


async def list_active_connections(session: AsyncSession) -> list[MidjourneyConnection]:
    """Return every connection that may send prompts."""
    connections = await session.scalars(
        select(MidjourneyConnection)
        .where(MidjourneyConnection.state == ConnectionState.ACTIVE)
        .order_by(MidjourneyConnection.id)
    )
    return list(connections)


async def first_active_connection_id(session: AsyncSession, user_id: int) -> int | None:
    """Return the id of the user's oldest active connection, or None."""
    return await session.scalar(
        select(MidjourneyConnection.id)
        .where(MidjourneyConnection.user_id == user_id)
        .where(MidjourneyConnection.state == ConnectionState.ACTIVE)
        .order_by(MidjourneyConnection.id)
        .limit(1)
    )


async def mark_connection_paused(session: AsyncSession, connection_id: int, reason: str) -> None:
    """Record that a connection must not send until its owner resumes it, and why."""
    connection = await session.get(MidjourneyConnection, connection_id)
    if connection is not None:
        connection.state = ConnectionState.PAUSED
        connection.pause_reason = reason


async def record_account_id(session: AsyncSession, connection_id: int, account_id: str) -> None:
    """Store the Discord user id the connection's token belongs to."""
    connection = await session.get(MidjourneyConnection, connection_id)
    if connection is not None:
        connection.discord_account_id = account_id
