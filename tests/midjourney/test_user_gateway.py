"""The user's gateway calls its owner's hook when it had to identify anew, and only then."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from midjau.settings import SandboxSettings
from midjourney.messages import ChannelEvent
from midjourney.relay import Relay
from midjourney.user_gateway import GatewayTimings
from sandbox.server import Sandbox

FAST_TIMINGS = GatewayTimings(
    ready_timeout=5.0,
    reconnect_min_delay=0.05,
    reconnect_max_delay=0.2,
    reidentify_min_delay=0.01,
    reidentify_max_delay=0.02,
)
SETTLE_SECONDS = 0.3


class SessionLog:
    """Count the relay's new-session notices."""

    def __init__(self) -> None:
        self.new_sessions = 0

    async def on_reidentified(self) -> None:
        self.new_sessions += 1


async def ignore_event(event: ChannelEvent) -> None:
    del event


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxSettings(time_scale=0.005)) as running:
        yield running


@pytest.fixture
async def relay(sandbox: Sandbox) -> AsyncIterator[Relay]:
    async with aiohttp.ClientSession() as http:
        relay = Relay(
            http=http,
            token=sandbox.user_token,
            api_base=sandbox.api_base,
            gateway_url=sandbox.gateway_url,
            guild_id=sandbox.guild_id,
            channel_id=sandbox.channel_id,
            on_event=ignore_event,
            timings=FAST_TIMINGS,
        )
        await relay.start()
        yield relay
        await relay.close()


async def wait_for_new_session(relay: Relay, old_session_id: str | None) -> None:
    async with asyncio.timeout(5):
        while relay.session_id in (None, old_session_id):  # noqa: ASYNC110 - no event to await
            await asyncio.sleep(0.01)


async def test_first_ready_is_no_new_session(relay: Relay) -> None:
    log = SessionLog()
    relay.on_reidentified = log.on_reidentified
    await asyncio.sleep(SETTLE_SECONDS)

    assert relay.session_id is not None
    assert log.new_sessions == 0


async def test_invalid_session_reports_new_session(relay: Relay, sandbox: Sandbox) -> None:
    log = SessionLog()
    relay.on_reidentified = log.on_reidentified
    old_session_id = relay.session_id

    sandbox.discord.invalidate_sessions(sandbox.user_id, resumable=False)
    await wait_for_new_session(relay, old_session_id)
    await asyncio.sleep(SETTLE_SECONDS)

    assert log.new_sessions == 1


@pytest.mark.parametrize("resumable_fault", ["reconnect", "invalid-resumable", "dropped"])
async def test_resumed_session_reports_nothing(
    relay: Relay, sandbox: Sandbox, resumable_fault: str
) -> None:
    log = SessionLog()
    relay.on_reidentified = log.on_reidentified
    session_id = relay.session_id

    if resumable_fault == "reconnect":
        hit = sandbox.discord.reconnect_sessions(sandbox.user_id)
    elif resumable_fault == "invalid-resumable":
        hit = sandbox.discord.invalidate_sessions(sandbox.user_id, resumable=True)
    else:
        hit = sandbox.discord.drop_connections(sandbox.user_id)
    await asyncio.sleep(SETTLE_SECONDS)

    assert hit == 1
    assert relay.session_id == session_id
    assert log.new_sessions == 0


async def test_held_session_misses_dispatches_until_released(
    relay: Relay, sandbox: Sandbox
) -> None:
    log = SessionLog()
    relay.on_reidentified = log.on_reidentified
    hub = sandbox.discord.gateway
    old_session_id = relay.session_id

    hub.hold_sessions(sandbox.user_id)
    sandbox.discord.invalidate_sessions(sandbox.user_id, resumable=False)
    await asyncio.sleep(SETTLE_SECONDS)
    held_session_id = relay.session_id
    released = hub.release_sessions(sandbox.user_id)
    await wait_for_new_session(relay, old_session_id)
    await asyncio.sleep(SETTLE_SECONDS)

    assert held_session_id is None
    assert released == 1
    assert log.new_sessions == 1
