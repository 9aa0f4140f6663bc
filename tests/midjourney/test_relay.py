"""The relay acting as the connected user against the real sandbox (REST and gateway)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from midjau.settings import SandboxSettings
from midjourney.messages import (
    ChannelEvent,
    EventSource,
    InteractionCreated,
    InteractionFailed,
    InteractionSucceeded,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
)
from midjourney.relay import (
    MAX_RATE_LIMIT_WAITS,
    AccessBlockedError,
    CaptchaRequiredError,
    RateLimitedError,
    Relay,
    TokenRejectedError,
)
from midjourney.user_gateway import GatewayTimings
from sandbox.midjourney.knobs import captcha_required, forbidden, unauthorized
from sandbox.server import Sandbox

FAST_TIMINGS = GatewayTimings(
    ready_timeout=5.0,
    reconnect_min_delay=0.05,
    reconnect_max_delay=0.2,
    reidentify_min_delay=0.01,
    reidentify_max_delay=0.02,
)


class EventLog:
    """Collect the relay's events in arrival order."""

    def __init__(self) -> None:
        self.events: list[ChannelEvent] = []

    async def __call__(self, event: ChannelEvent) -> None:
        self.events.append(event)

    def created(self) -> list[MessageCreated]:
        return [e for e in self.events if isinstance(e, MessageCreated)]

    def finals(self) -> list[MessageCreated]:
        return [e for e in self.created() if "Open on website" in e.message.content]

    async def wait_for(self, predicate: Callable[[], Any], within: float = 5.0) -> Any:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            result = predicate()
            if result:
                return result
            await asyncio.sleep(0.01)
        raise AssertionError(f"condition not met in time; events: {self.events!r}")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    # One fast job takes 40 × 0.005 = 0.2 s.
    async with Sandbox(SandboxSettings(time_scale=0.005, job_seconds=40)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make_relay(
    sandbox: Sandbox, http: aiohttp.ClientSession, log: EventLog, *, token: str | None = None
) -> Relay:
    return Relay(
        http=http,
        token=token or sandbox.user_token,
        api_base=sandbox.api_base,
        gateway_url=sandbox.gateway_url,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        on_event=log,
        timings=FAST_TIMINGS,
    )


@pytest.fixture
def log() -> EventLog:
    return EventLog()


@pytest.fixture
async def relay(
    sandbox: Sandbox, http: aiohttp.ClientSession, log: EventLog
) -> AsyncIterator[Relay]:
    relay = make_relay(sandbox, http, log)
    await relay.start()
    yield relay
    await relay.close()


async def test_imagine_events_arrive_on_user_session(
    relay: Relay, log: EventLog, sandbox: Sandbox
) -> None:
    nonce = await relay.imagine("red fox --ar 16:9")
    final = (await log.wait_for(log.finals))[0].message

    assert relay.user_id == sandbox.user_id
    created = next(e for e in log.events if isinstance(e, InteractionCreated))
    succeeded = next(e for e in log.events if isinstance(e, InteractionSucceeded))
    assert created.nonce == nonce
    assert succeeded.interaction_id == created.interaction_id

    waiting = next(e.message for e in log.created() if e.message.nonce == nonce)
    assert "(Waiting to start)" in waiting.content
    assert waiting.interaction_id == created.interaction_id
    updates = [e.message for e in log.events if isinstance(e, MessageUpdated)]
    assert updates and all(m.id == waiting.id for m in updates)
    assert any(a.filename.endswith("_grid_0.webp") for m in updates for a in m.attachments)
    assert MessageDeleted(waiting.id, sandbox.channel_id, EventSource.USER) in log.events

    assert final.nonce is None
    assert final.reference_id == waiting.id
    assert final.attachments[0].filename.endswith(".png")
    assert [b.label for b in final.buttons if b.label] == [
        "U1",
        "U2",
        "U3",
        "U4",
        "V1",
        "V2",
        "V3",
        "V4",
    ]


async def test_upscale_press_gets_image_reply(relay: Relay, log: EventLog) -> None:
    await relay.imagine("red fox")
    grid = (await log.wait_for(log.finals))[0].message
    u2 = next(b for b in grid.buttons if b.label == "U2")

    nonce = await relay.press(grid.id, u2.custom_id or "")
    single = (await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == nonce]))[
        0
    ].message

    assert "Image #2" in single.content
    assert single.reference_id == grid.id


async def test_unknown_button_gets_interaction_failure(relay: Relay, log: EventLog) -> None:
    await relay.imagine("red fox")
    grid = (await log.wait_for(log.finals))[0].message

    nonce = await relay.press(grid.id, "MJ::Unknown::button")
    failure = (
        await log.wait_for(lambda: [e for e in log.events if isinstance(e, InteractionFailed)])
    )[0]

    assert failure.nonce == nonce
    assert failure.reason_code == 1


async def test_stale_version_reloads_index_and_resends_once(
    relay: Relay, log: EventLog, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    new_version = sandbox.midjourney.knobs.bump_command_version()

    with caplog.at_level(logging.INFO, logger="midjourney.relay"):
        nonce = await relay.imagine("red fox")
    await log.wait_for(log.finals)

    assert any("is stale" in record.getMessage() for record in caplog.records)
    assert relay.command_version == new_version

    assert len(sandbox.midjourney.jobs) == 1
    accepted = [e.nonce for e in log.events if isinstance(e, InteractionCreated)]
    assert accepted == [nonce]


async def test_rate_limit_retry_after_is_honoured(
    relay: Relay, log: EventLog, sandbox: Sandbox
) -> None:
    sandbox.discord.rate_limit_next(2, method="POST", route="/interactions", retry_after=0.15)

    started = time.monotonic()
    nonce = await relay.imagine("red fox")
    elapsed = time.monotonic() - started

    assert 0.3 <= elapsed < 1.0
    waiting = await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == nonce])
    assert "(Waiting to start)" in waiting[0].message.content


async def test_rate_limit_that_outlasts_the_waits_raises_with_retry_after(
    relay: Relay, sandbox: Sandbox
) -> None:
    limited = MAX_RATE_LIMIT_WAITS + 1
    sandbox.discord.rate_limit_next(limited, method="POST", route="/interactions", retry_after=0.1)

    with pytest.raises(RateLimitedError) as caught:
        await relay.imagine("red fox")

    assert caught.value.retry_after == pytest.approx(0.1)
    assert caught.value.status == 429
    sent = sandbox.discord.requests.matching(method="POST", route="/interactions")
    assert [record.status for record in sent] == [429] * limited
    assert len(sandbox.midjourney.jobs) == 0


async def test_unauthorized_raises_token_rejected(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.midjourney.knobs.rejections.append(unauthorized())

    with pytest.raises(TokenRejectedError) as caught:
        await relay.imagine("red fox")

    assert sandbox.user_token not in str(caught.value)
    assert sandbox.user_token not in caught.value.user_message
    assert sandbox.user_token not in repr(relay)


async def test_wrong_token_fails_start(
    sandbox: Sandbox, http: aiohttp.ClientSession, log: EventLog
) -> None:
    relay = make_relay(sandbox, http, log, token="not-a-real-token")

    with pytest.raises(TokenRejectedError):
        await relay.start()


async def test_forbidden_and_captcha_raise_their_errors(relay: Relay, sandbox: Sandbox) -> None:
    sandbox.midjourney.knobs.rejections.extend([forbidden(), captcha_required()])

    with pytest.raises(AccessBlockedError):
        await relay.imagine("red fox")
    with pytest.raises(CaptchaRequiredError):
        await relay.imagine("red fox")


async def test_gateway_reconnect_resumes_session(
    relay: Relay, log: EventLog, sandbox: Sandbox
) -> None:
    session_id = relay.session_id

    told = sandbox.discord.reconnect_sessions(sandbox.user_id)
    await asyncio.sleep(0.2)
    nonce = await relay.imagine("red fox")
    await log.wait_for(log.finals)

    assert told == 1
    assert relay.session_id == session_id
    assert any(isinstance(e, InteractionCreated) and e.nonce == nonce for e in log.events)


async def test_invalid_session_identifies_again(
    relay: Relay, log: EventLog, sandbox: Sandbox
) -> None:
    session_id = relay.session_id

    sandbox.discord.invalidate_sessions(sandbox.user_id, resumable=False)
    await log.wait_for(lambda: relay.session_id not in (None, session_id))
    nonce = await relay.imagine("red fox")

    await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == nonce])


async def test_dropped_socket_reconnects(relay: Relay, log: EventLog, sandbox: Sandbox) -> None:
    sandbox.discord.drop_connections(sandbox.user_id)
    await asyncio.sleep(0.3)

    nonce = await relay.imagine("red fox")

    await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == nonce])


async def test_job_queued_when_slots_are_full(
    relay: Relay, log: EventLog, sandbox: Sandbox
) -> None:
    sandbox.midjourney.knobs.fast_slots = 1

    await relay.imagine("first fox")
    second = await relay.imagine("second fox")
    queued = (await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == second]))[
        0
    ]

    assert queued.message.embeds[0].title == "Job queued"
    assert queued.message.embeds[0].footer.startswith("/imagine second fox")
    await log.wait_for(lambda: len(log.finals()) == 2)


async def test_invalid_parameter_embed_carries_nonce(relay: Relay, log: EventLog) -> None:
    nonce = await relay.imagine("red fox --stylize 5000")
    reply = (await log.wait_for(lambda: [e for e in log.created() if e.message.nonce == nonce]))[0]

    assert reply.message.embeds[0].title == "Invalid parameter"
    assert "--stylize" in reply.message.embeds[0].description


async def test_fetch_history_returns_grid(relay: Relay, log: EventLog) -> None:
    await relay.imagine("red fox")
    final = (await log.wait_for(log.finals))[0].message

    history = await relay.fetch_history(limit=10)

    assert history[0].id == final.id
    assert history[0].attachments[0].url == final.attachments[0].url


async def test_refresh_attachment_urls_maps_each_url(relay: Relay, log: EventLog) -> None:
    await relay.imagine("red fox")
    url = (await log.wait_for(log.finals))[0].message.attachments[0].url

    refreshed = await relay.refresh_attachment_urls([url])

    assert list(refreshed) == [url]
    assert refreshed[url].split("?")[0] == url.split("?")[0]


async def test_token_never_logged(
    sandbox: Sandbox, http: aiohttp.ClientSession, log: EventLog, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        relay = make_relay(sandbox, http, log)
        await relay.start()
        sandbox.discord.reconnect_sessions(sandbox.user_id)
        await relay.imagine("red fox")
        await log.wait_for(log.finals)
        await relay.close()

    assert caplog.records
    assert sandbox.user_token not in caplog.text
