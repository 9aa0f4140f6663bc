"""Users and their Midjourney connections in storage."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.pause_reasons import RESTRICTED_REASON
from storage.models import Batch, ConnectionState, MidjourneyConnection, User, utcnow


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


async def list_startable_connections(session: AsyncSession) -> list[MidjourneyConnection]:
    """Return every active or paused connection: paused ones start held, to be checked."""
    connections = await session.scalars(
        select(MidjourneyConnection)
        .where(MidjourneyConnection.state.in_([ConnectionState.ACTIVE, ConnectionState.PAUSED]))
        .order_by(MidjourneyConnection.id)
    )
    return list(connections)


async def is_restricted(session: AsyncSession, user_id: int) -> bool:
    """Tell whether the user restricted the processing of their data."""
    restricted_at = await session.scalar(select(User.restricted_at).where(User.id == user_id))
    return restricted_at is not None


async def list_restricted_user_ids(session: AsyncSession) -> set[int]:
    """Return the ids of the users who restricted the processing of their data."""
    return set(await session.scalars(select(User.id).where(User.restricted_at.is_not(None))))


async def hold_restricted_connections(
    session: AsyncSession, connections: list[MidjourneyConnection]
) -> list[MidjourneyConnection]:
    """Pause for the restriction each connection whose owner restricted processing.

    Return those connections. This repeats what restricting did, for a connection stored
    or changed since, so that lifting the restriction resumes it as well.
    """
    restricted = await list_restricted_user_ids(session)
    held = [connection for connection in connections if connection.user_id in restricted]
    for connection in held:
        if connection.pause_reason != RESTRICTED_REASON:
            mark_connection_paused(connection, RESTRICTED_REASON, "")
    return held


async def list_user_connections(session: AsyncSession, user_id: int) -> list[MidjourneyConnection]:
    """Return the user's connections, oldest first."""
    connections = await session.scalars(
        select(MidjourneyConnection)
        .where(MidjourneyConnection.user_id == user_id)
        .order_by(MidjourneyConnection.id)
    )
    return list(connections)


async def count_connections_by_state(session: AsyncSession) -> dict[ConnectionState, int]:
    """Return how many connections are in each state."""
    rows = await session.execute(
        select(MidjourneyConnection.state, func.count()).group_by(MidjourneyConnection.state)
    )
    return {ConnectionState(state): count for state, count in rows.all()}


async def list_open_batch_channels(session: AsyncSession, connection_id: int) -> list[str]:
    """Return the Discord channels of the unfinished batches on a connection."""
    channel_ids = await session.scalars(
        select(Batch.discord_channel_id)
        .where(Batch.connection_id == connection_id)
        .where(Batch.finished_at.is_(None), Batch.discord_channel_id.is_not(None))
        .distinct()
    )
    return [channel_id for channel_id in channel_ids if channel_id]


def mark_connection_paused(connection: MidjourneyConnection, reason: str, link: str) -> str | None:
    """Record that a connection must not send until it works again, and why.

    Return the reason it was already paused for, or None when it was active. The pause
    keeps its first time, and its link unless a new one is given.
    """
    previous = connection.pause_reason if connection.state == ConnectionState.PAUSED else None
    connection.state = ConnectionState.PAUSED
    connection.pause_reason = reason
    connection.pause_link = link or (connection.pause_link if previous is not None else "")
    if previous is None or connection.paused_at is None:
        connection.paused_at = utcnow()
    return previous


def mark_connection_active(connection: MidjourneyConnection) -> None:
    """Clear a connection's pause, so it sends again."""
    connection.state = ConnectionState.ACTIVE
    connection.pause_reason = ""
    connection.pause_link = ""
    connection.paused_at = None


async def record_account_id(session: AsyncSession, connection_id: int, account_id: str) -> None:
    """Store the Discord user id the connection's token belongs to."""
    connection = await session.get(MidjourneyConnection, connection_id)
    if connection is not None:
        connection.discord_account_id = account_id


async def find_user_connection(
    session: AsyncSession, user_id: int, guild_id: str, channel_id: str
) -> MidjourneyConnection | None:
    """Return the user's connection to this server and channel, or None."""
    return await session.scalar(
        select(MidjourneyConnection).where(
            MidjourneyConnection.user_id == user_id,
            MidjourneyConnection.guild_id == guild_id,
            MidjourneyConnection.channel_id == channel_id,
        )
    )


async def other_connection_of_account(
    session: AsyncSession, account_id: str, user_id: int, guild_id: str, channel_id: str
) -> MidjourneyConnection | None:
    """Return a connection of this Discord account other than the user's one in this channel.

    One account runs one Midjourney queue, so a second connection anywhere, by anyone,
    would double its pace and watch its replies twice.
    """
    return await session.scalar(
        select(MidjourneyConnection)
        .where(
            MidjourneyConnection.discord_account_id == account_id,
            ~(
                (MidjourneyConnection.user_id == user_id)
                & (MidjourneyConnection.guild_id == guild_id)
                & (MidjourneyConnection.channel_id == channel_id)
            ),
        )
        .limit(1)
    )
