"""Restricted processing in the engine: no new batch, no new connection, no session at start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from pipeline.batch_requests import PROCESSING_RESTRICTED_MESSAGE
from pipeline.connections import RelayConfig
from pipeline.engine import Engine, ProcessingRestrictedError
from pipeline.pause_reasons import RESTRICTED_REASON
from pipeline.progress import BatchOptions
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher
from storage.db import Database
from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    ConnectionState,
    MidjourneyConnection,
    User,
    utcnow,
)
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import Rig
from tests.pipeline.engine_support import RecordingRelay, fast_settings, make_intake


async def set_restricted(db: Database, user_id: int, restricted: bool) -> None:
    async with db.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.restricted_at = utcnow() if restricted else None


async def count_rows(db: Database, model: type[Batch] | type[MidjourneyConnection]) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def store_connection(
    db: Database, cipher: TokenCipher, user_id: int, *, account_id: str
) -> int:
    async with db.sessions() as session, session.begin():
        connection = MidjourneyConnection(
            user_id=user_id,
            guild_id=mj.GUILD_ID,
            channel_id="12",
            plan="pro",
            token_ciphertext=cipher.encrypt("held-token"),
            discord_account_id=account_id,
        )
        session.add(connection)
        await session.flush()
        return connection.id


async def load_connection(db: Database, connection_id: int) -> MidjourneyConnection:
    async with db.sessions() as session:
        connection = await session.get(MidjourneyConnection, connection_id)
    assert connection is not None
    return connection


async def test_create_batch_rejected_while_restricted(rig: Rig) -> None:
    await set_restricted(rig.engine.db, rig.user_id, True)

    with pytest.raises(ProcessingRestrictedError) as raised:
        await rig.engine.create_batch(
            rig.user_id,
            make_intake(["a red fox"]),
            BatchOptions(),
            origin=BatchOrigin.WEB,
            connection_id=rig.connection_id,
        )

    assert str(raised.value) == PROCESSING_RESTRICTED_MESSAGE
    assert await count_rows(rig.engine.db, Batch) == 0
    assert rig.relay.imagined == []


async def test_confirm_batch_rejected_while_restricted(rig: Rig) -> None:
    batch_id = await rig.engine.create_batch(
        rig.user_id,
        make_intake(["a red fox"]),
        BatchOptions(),
        origin=BatchOrigin.WEB,
        connection_id=rig.connection_id,
        confirmed=False,
    )
    await set_restricted(rig.engine.db, rig.user_id, True)

    with pytest.raises(ProcessingRestrictedError):
        await rig.engine.confirm_batch(batch_id)

    async with rig.engine.db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    assert batch.status == BatchStatus.AWAITING_CONFIRMATION


async def test_add_connection_rejected_while_restricted(rig: Rig) -> None:
    await set_restricted(rig.engine.db, rig.user_id, True)

    with pytest.raises(ProcessingRestrictedError, match="lift it on the Data page"):
        await rig.engine.add_connection(
            rig.user_id, token="other-token", guild_id="1", channel_id="2", plan="pro"
        )

    assert await count_rows(rig.engine.db, MidjourneyConnection) == 1


@asynccontextmanager
async def engine_with_relays(
    db: Database, blobs: LocalBlobStore, tmp_path: Path, cipher: TokenCipher
) -> AsyncIterator[tuple[Engine, list[RecordingRelay]]]:
    relays: list[RecordingRelay] = []

    def build_relay(config: RelayConfig) -> RecordingRelay:
        relay = RecordingRelay(config)
        if not relay.checks_only:
            relays.append(relay)
        return relay

    async with aiohttp.ClientSession() as http:
        engine = Engine(fast_settings(tmp_path), db, blobs, http, cipher, build_relay)
        try:
            yield engine, relays
        finally:
            await engine.stop()


async def test_start_opens_no_session_for_restricted_owner(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    cipher = TokenCipher(Fernet.generate_key())
    async with engine_with_relays(db, blobs, tmp_path, cipher) as (stored, _):
        free_user = await stored.ensure_user("1180000000000000601")
        held_user = await stored.ensure_user("1180000000000000602")
        free_id = await stored.add_connection(
            free_user, token="free-token", guild_id=mj.GUILD_ID, channel_id="11", plan="pro"
        )
        # Another Discord account: stored as connecting it would, since the recording
        # relay answers every token with the same account.
        held_id = await store_connection(db, cipher, held_user, account_id="1180000000000000699")
    # Restricted while no process ran, so the connection is still stored as active.
    await set_restricted(db, held_user, True)

    async with engine_with_relays(db, blobs, tmp_path, cipher) as (engine, relays):
        await engine.start()
        started = [relay.config.connection_id for relay in relays if relay.config is not None]
        held = await load_connection(db, held_id)

        await set_restricted(db, held_user, False)
        resumed = await engine.resume_connection(held_id, held_user)
        await asyncio.sleep(0)  # let the resumed dispatcher and the notice start before stop
        started_after_lift = [relay.config.connection_id for relay in relays if relay.config]

    assert started == [free_id]
    assert held.state == ConnectionState.PAUSED
    assert held.pause_reason == RESTRICTED_REASON
    assert resumed is True
    assert started_after_lift == [free_id, held_id]
