"""The bot's and the user's gateway sessions survive Discord's connection faults mid-batch."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from midjourney.messages import MIDJOURNEY_BOT_ID, ChannelMessage
from midjourney.relay import Relay
from midjourney.replies import ReplyKind, classify
from midjourney.user_gateway import GatewayTimings
from sandbox.discord.state import SandboxDiscord
from tests.faults.rig import Outcome, Product, start_product

pytestmark = pytest.mark.e2e

PROMPTS = ["a red fox", "a grey owl", "a koi pond"]
EXPECTED_IMAGES = [
    "002-a-red-fox_grid.png",
    "003-a-grey-owl_grid.png",
    "004-a-koi-pond_grid.png",
]
# One render lasts this many simulated seconds (1 s at the rig's time scale), long
# enough to inject a fault while every job is rendering.
SLOW_JOB_SECONDS = 200.0
WAIT_SECONDS = 20.0
FAST_TIMINGS = GatewayTimings(
    reconnect_min_delay=0.05,
    reconnect_max_delay=0.2,
    reidentify_min_delay=0.01,
    reidentify_max_delay=0.02,
)
# The bot waits this long before identifying again (Discord's rule is 5 s).
PRODUCT_OPTIONS: dict[str, Any] = {"discord": {"reidentify_delay": 0.05}}

Fault = Callable[[SandboxDiscord, str], int]
FAULTS: dict[str, Fault] = {
    "reconnect": lambda discord, user_id: discord.reconnect_sessions(user_id),
    "invalid-resumable": lambda discord, user_id: discord.invalidate_sessions(
        user_id, resumable=True
    ),
    "invalid-not-resumable": lambda discord, user_id: discord.invalidate_sessions(
        user_id, resumable=False
    ),
    "dropped-socket": lambda discord, user_id: discord.drop_connections(user_id),
}


def relay_of(product: Product) -> Relay:
    """Return the relay acting as the sandbox user (tests only reach into the engine)."""
    runtime = product.service.engine._runtime(product.connection_id)
    assert runtime is not None, "the sandbox connection did not start"
    assert isinstance(runtime.relay, Relay)
    return runtime.relay


def account_of(product: Product, gateway: str) -> str:
    return product.sandbox.bot_user_id if gateway == "bot" else product.sandbox.user_id


def midjourney_replies(product: Product, kind: ReplyKind) -> list[ChannelMessage]:
    """Return the simulated Midjourney's messages of one kind in the prompts channel."""
    stored = product.discord.messages.history(product.sandbox.channel_id, limit=10_000)
    messages = [ChannelMessage.from_payload(product.discord.render(item)) for item in stored]
    return [
        message
        for message in messages
        if message.author_id == MIDJOURNEY_BOT_ID and classify(message).kind == kind
    ]


async def wait_until(condition: Callable[[], bool], failure: str) -> None:
    async with asyncio.timeout(WAIT_SECONDS):
        while not condition():  # noqa: ASYNC110 - sandbox state offers no event to wait on
            await asyncio.sleep(0.02)
    assert condition(), failure


async def wait_all_rendering(product: Product) -> None:
    """Wait until Midjourney shows a progress message for every prompt."""
    await wait_until(
        lambda: len(midjourney_replies(product, ReplyKind.PROGRESS)) >= len(PROMPTS),
        "Midjourney never started every job",
    )


def assert_every_row_done_once(outcome: Outcome) -> None:
    assert [line.row for line in outcome.lines] == [2, 3, 4]
    assert [line.status for line in outcome.lines] == ["done", "done", "done"]
    assert [line.attempts for line in outcome.lines] == [1, 1, 1]
    assert outcome.images() == EXPECTED_IMAGES
    assert len(outcome.zip_names) == len(set(outcome.zip_names))


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("gateway", ["bot", "user"])
async def test_fault_mid_batch_loses_no_row(tmp_path: Path, gateway: str, fault: str) -> None:
    async with start_product(tmp_path, **PRODUCT_OPTIONS) as product:
        relay_of(product).timings = FAST_TIMINGS
        product.knobs.job_seconds = SLOW_JOB_SECONDS
        batch_id = await product.run_sheet(PROMPTS)
        await wait_all_rendering(product)

        hit = FAULTS[fault](product.discord, account_of(product, gateway))
        outcome = await product.finish(batch_id, within=WAIT_SECONDS)

        bot = product.service.bot
        assert bot is not None
        assert bot.is_ready()
        assert relay_of(product).session_id is not None

    assert hit >= 1
    assert_every_row_done_once(outcome)


@pytest.mark.parametrize("gateway", ["bot", "user"])
async def test_finals_posted_while_down_come_from_history(tmp_path: Path, gateway: str) -> None:
    """Only one gateway comes back, as a new session, after Midjourney posted every grid.

    The other one stays held until the batch has finished, so the grids can reach the
    tracker only through the returning gateway's catch-up from channel history.
    """
    async with start_product(tmp_path, **PRODUCT_OPTIONS) as product:
        relay_of(product).timings = FAST_TIMINGS
        hub = product.discord.gateway
        returning = account_of(product, gateway)
        staying = account_of(product, "user" if gateway == "bot" else "bot")
        product.knobs.job_seconds = SLOW_JOB_SECONDS
        batch_id = await product.run_sheet(PROMPTS)
        await wait_all_rendering(product)

        hub.hold_sessions(staying)
        hub.hold_sessions(returning)
        product.discord.drop_connections(staying)
        product.discord.invalidate_sessions(returning, resumable=False)
        await wait_until(
            lambda: len(midjourney_replies(product, ReplyKind.GRID)) == len(PROMPTS),
            "Midjourney never posted every grid",
        )
        seen_while_down = await product.service.engine.progress(batch_id)

        hub.release_sessions(returning)
        result = await asyncio.wait_for(
            product.service.engine.wait_finished(batch_id), WAIT_SECONDS
        )
        hub.release_sessions(staying)
        outcome = await product.finish(batch_id, within=WAIT_SECONDS)

    assert seen_while_down.done == 0
    assert result.batch_id == batch_id
    assert_every_row_done_once(outcome)


async def test_resumed_session_gets_missed_events_replayed(tmp_path: Path) -> None:
    async with start_product(tmp_path, **PRODUCT_OPTIONS) as product:
        hub = product.discord.gateway
        relay = relay_of(product)
        session_before = relay.session_id
        product.knobs.job_seconds = SLOW_JOB_SECONDS
        batch_id = await product.run_sheet(PROMPTS)
        await wait_all_rendering(product)

        hub.hold_sessions(product.sandbox.bot_user_id)
        hub.hold_sessions(product.sandbox.user_id)
        product.discord.drop_connections(product.sandbox.bot_user_id)
        product.discord.drop_connections(product.sandbox.user_id)
        await wait_until(
            lambda: len(midjourney_replies(product, ReplyKind.GRID)) == len(PROMPTS),
            "Midjourney never posted every grid",
        )
        seen_while_down = await product.service.engine.progress(batch_id)

        hub.release_sessions(product.sandbox.bot_user_id)
        hub.release_sessions(product.sandbox.user_id)
        outcome = await product.finish(batch_id, within=WAIT_SECONDS)
        session_after = relay.session_id

    assert seen_while_down.done == 0
    assert session_after == session_before
    assert_every_row_done_once(outcome)
