"""Connecting a Discord account: the engine checks token and channel with the sandbox first."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.connection_checks import ConnectionCheckError
from storage.models import ConnectionState, MidjourneyConnection
from tests.faults.rig import Product, start_product

# A snowflake that names no server or channel of the sandbox.
UNKNOWN_ID = "1180000000000009999"


async def connection_count(product: Product) -> int:
    async with product.service.db.sessions() as session:
        return int(await session.scalar(select(func.count(MidjourneyConnection.id))) or 0)


async def connect(product: Product, user_id: int, **details: str) -> int:
    sandbox = product.sandbox
    fields = {
        "token": sandbox.user_token,
        "guild_id": sandbox.guild_id,
        "channel_id": sandbox.channel_id,
    } | details
    return await product.service.engine.add_connection(user_id, plan="pro", **fields)


async def test_connect_records_the_discord_account(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        async with product.service.db.sessions() as session:
            connection = await session.get(MidjourneyConnection, product.connection_id)

    assert connection is not None
    assert connection.discord_account_id == product.sandbox.user_id


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"token": "not-the-token"}, "Discord rejected the token"),
        ({"channel_id": UNKNOWN_ID}, f"Discord says channel {UNKNOWN_ID} does not exist"),
        ({"guild_id": UNKNOWN_ID}, f"not in server {UNKNOWN_ID}"),
    ],
)
async def test_connect_refuses_what_discord_refuses(
    tmp_path: Path, details: dict[str, str], message: str
) -> None:
    async with start_product(tmp_path) as product:
        other_user = await product.service.engine.ensure_user("1180000000000000777", "carol")

        with pytest.raises(ConnectionCheckError, match=message):
            await connect(product, other_user, **details)

        assert await connection_count(product) == 1


async def test_second_user_cannot_connect_the_same_account(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        bob = await product.service.engine.ensure_user("1180000000000000777", "bob")

        with pytest.raises(ConnectionCheckError, match="already connected to another MidJAu"):
            await connect(product, bob)

        again = await connect(product, product.user_id)
        assert again == product.connection_id
        assert await connection_count(product) == 1


async def test_same_account_in_another_channel_is_refused(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        other_channel = product.sandbox.general_channel_id

        with pytest.raises(ConnectionCheckError, match="already connected in channel"):
            await connect(product, product.user_id, channel_id=other_channel)

        assert await connection_count(product) == 1


async def test_connection_whose_session_cannot_start_is_paused(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        engine = product.service.engine
        async with engine.ledger.transaction() as session:
            broken = MidjourneyConnection(
                user_id=product.user_id,
                guild_id=UNKNOWN_ID,
                channel_id=product.sandbox.channel_id,
                plan="pro",
                token_ciphertext=engine.cipher.encrypt(product.sandbox.user_token),
            )
            session.add(broken)
        engine.connections.register(broken)

        assert await engine.connections.start(broken) is None

        async with engine.db.sessions() as session:
            stored = await session.get(MidjourneyConnection, broken.id)
        [health] = [h for h in await engine.connection_health(product.user_id) if not h.working]
    assert stored is not None
    assert stored.state == ConnectionState.PAUSED
    assert "Unknown Guild" in stored.pause_reason
    assert health.connection_id == broken.id
    assert "did not start" in health.reason
