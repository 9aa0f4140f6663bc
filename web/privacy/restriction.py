"""Restricting processing: the owner pauses every connection (and so every batch) at once.

While ``User.restricted_at`` is set, the engine sends nothing for the user: each
connection is paused with ``RESTRICTED_REASON``, which no health probe lifts, and the
engine refuses to resume it. Lifting the restriction resumes exactly the connections that
the restriction paused.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from pipeline.accounts import mark_connection_active, mark_connection_paused
from pipeline.engine import Engine
from pipeline.pause_reasons import RESTRICTED_REASON, PauseCause, classify_pause
from storage.db import Database
from storage.models import ConnectionState, MidjourneyConnection, User, utcnow

_log = logging.getLogger(__name__)


async def restrict_processing(db: Database, engine: Engine | None, user_id: int) -> int:
    """Mark the user restricted and pause each of their connections; return how many."""
    async with db.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        if user is None:
            return 0
        if user.restricted_at is None:
            user.restricted_at = utcnow()
        connection_ids = list(
            await session.scalars(
                select(MidjourneyConnection.id).where(MidjourneyConnection.user_id == user_id)
            )
        )

    for connection_id in connection_ids:
        if engine is not None:
            await engine.pause(connection_id, RESTRICTED_REASON)
        else:
            await _set_paused(db, connection_id)
    _log.info("user %s restricted processing; %d connections paused", user_id, len(connection_ids))
    return len(connection_ids)


async def lift_restriction(db: Database, engine: Engine | None, user_id: int) -> int:
    """Clear the restriction and resume the connections it paused; return how many."""
    async with db.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        if user is None:
            return 0
        user.restricted_at = None
        connections = list(
            await session.scalars(
                select(MidjourneyConnection).where(
                    MidjourneyConnection.user_id == user_id,
                    MidjourneyConnection.state == ConnectionState.PAUSED,
                )
            )
        )
    paused_by_restriction = [
        connection.id
        for connection in connections
        if classify_pause(connection.pause_reason) is PauseCause.RESTRICTED
    ]

    resumed = 0
    for connection_id in paused_by_restriction:
        if engine is not None:
            resumed += await engine.resume_connection(connection_id, user_id)
        else:
            resumed += await _set_active(db, connection_id)
    _log.info("user %s lifted the restriction; %d connections resumed", user_id, resumed)
    return resumed


async def _set_paused(db: Database, connection_id: int) -> None:
    async with db.sessions() as session, session.begin():
        connection = await session.get(MidjourneyConnection, connection_id)
        if connection is not None:
            mark_connection_paused(connection, RESTRICTED_REASON, "")


async def _set_active(db: Database, connection_id: int) -> bool:
    async with db.sessions() as session, session.begin():
        connection = await session.get(MidjourneyConnection, connection_id)
        if connection is None:
            return False
        mark_connection_active(connection)
        return True
