"""Views of the user's connections for the connections page: stored details, health and pace."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from midjau.settings import Settings
from pipeline.engine import Engine
from pipeline.health import ConnectionHealth
from storage.models import MidjourneyConnection


@dataclass(frozen=True, slots=True)
class ConnectionView:
    """One of the user's connections as the page lists it; never its token."""

    id: int
    label: str
    account_id: str
    guild_id: str
    channel_id: str
    channel_url: str
    plan: str
    created_at: str
    health: ConnectionHealth | None
    daily_cap: int | None
    min_gap_seconds: float | None


@dataclass(frozen=True, slots=True)
class PaceDefaults:
    """The pace a connection has when its owner sets none."""

    daily_cap: int
    min_gap_seconds: float


def pace_defaults(settings: Settings) -> PaceDefaults:
    """Return the settings' default daily cap and minimum gap."""
    return PaceDefaults(settings.pacing.daily_cap, settings.pacing.min_gap_seconds)


async def find_user_connection(
    session: AsyncSession, connection_id: int, user_id: int
) -> MidjourneyConnection | None:
    """Return the connection when it exists and belongs to ``user_id``, else None."""
    return await session.scalar(
        select(MidjourneyConnection).where(
            MidjourneyConnection.id == connection_id, MidjourneyConnection.user_id == user_id
        )
    )


async def list_connection_views(
    session: AsyncSession, engine: Engine, user_id: int
) -> list[ConnectionView]:
    """Return the user's connections, oldest first, with their health."""
    connections = await session.scalars(
        select(MidjourneyConnection)
        .where(MidjourneyConnection.user_id == user_id)
        .order_by(MidjourneyConnection.id)
    )
    health = {item.connection_id: item for item in await engine.connection_health(user_id)}
    return [view_of(connection, health.get(connection.id)) for connection in connections]


def view_of(connection: MidjourneyConnection, health: ConnectionHealth | None) -> ConnectionView:
    """Describe one stored connection for its owner."""
    return ConnectionView(
        id=connection.id,
        label=connection.label or f"Connection {connection.id}",
        account_id=connection.discord_account_id,
        guild_id=connection.guild_id,
        channel_id=connection.channel_id,
        channel_url=f"https://discord.com/channels/{connection.guild_id}/{connection.channel_id}",
        plan=connection.plan,
        created_at=connection.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        health=health,
        daily_cap=connection.daily_cap,
        min_gap_seconds=connection.min_gap_seconds,
    )
