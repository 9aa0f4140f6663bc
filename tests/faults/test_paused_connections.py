"""Account-level faults pause the whole connection, then the batch goes on by itself.

Each test runs a three-row sheet on the Standard plan with a gap between interactions:
row 2 is a slow relax job with an upscale, sent first and still rendering when the fault
hits row 3. While the connection is paused its grid arrives, but its upscale press waits,
and no other interaction is sent. The fault is then switched off and the probe resumes
the connection: every row ends done.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from midjau.settings import SandboxSettings
from pipeline.health import ConnectionHealth
from sandbox.midjourney.knobs import captcha_required, forbidden
from storage.models import Job, JobStatus
from tests.faults.rig import Outcome, Product, start_product

pytestmark = pytest.mark.e2e

# Seconds between checks of a paused connection: longer than the in-flight job needs to
# reach its grid, so the window before the first check shows that nothing is sent.
PROBE_SECONDS = 2.0
# A fast job takes 100 × 0.005 = 0.5 s, a relax job twice that.
SANDBOX = SandboxSettings(time_scale=0.005, job_seconds=100, plan="standard")
ROWS: list[str | dict[str, Any]] = [
    {"prompt": "a slow heron --relax", "upscale": "U1"},
    "a red fox",
    "a grey owl",
]
WAIT = 15.0
REJECTIONS = 50


@dataclass
class RecordingListener:
    """A connection listener that keeps what it heard."""

    events: list[tuple[str, ConnectionHealth]] = field(default_factory=list)

    async def on_connection_paused(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        self.events.append(("paused", health))

    async def on_connection_resumed(self, health: ConnectionHealth, channel_ids: list[str]) -> None:
        self.events.append(("resumed", health))

    @property
    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


@dataclass
class PausedRun:
    """What a test saw while the connection was paused, and the finished batch."""

    health: ConnectionHealth
    in_flight_status: JobStatus
    sent_while_paused: int
    outcome: Outcome | None = None


@asynccontextmanager
async def paused_product(tmp_path: Path, **pacing: Any) -> AsyncIterator[Product]:
    settings = {"min_gap_seconds": 0.3, "resume_probe_seconds": PROBE_SECONDS} | pacing
    async with start_product(
        tmp_path, sandbox=SANDBOX, plan="standard", pacing=settings
    ) as product:
        yield product


def interactions(product: Product) -> int:
    simulator = product.sandbox.midjourney
    assert simulator is not None
    return int(simulator.interactions_received)


async def wait_until(check: Callable[[], Any], what: str, within: float = WAIT) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what} within {within:.0f} s") from None


async def health_of(product: Product) -> ConnectionHealth:
    [health] = await product.service.engine.connection_health(product.user_id)
    return health


async def jobs_by_row(product: Product) -> dict[int, Job]:
    async with product.service.engine.db.sessions() as session:
        jobs = list(await session.scalars(select(Job).order_by(Job.sequence)))
    return {row: job for row, job in enumerate(jobs, start=2)}


async def pause_midway(product: Product, switch_on: Callable[[], None]) -> tuple[int, PausedRun]:
    """Run the sheet, switch the fault on once row 2 is sent, and watch the pause."""

    async def first_sent() -> bool:
        return interactions(product) >= 1

    async def fault_after_first_send() -> None:
        await wait_until(first_sent, "row 2 was not sent")
        switch_on()

    switcher = asyncio.create_task(fault_after_first_send())
    batch_id = await product.run_sheet(ROWS)

    async def paused() -> bool:
        return not (await health_of(product)).working

    await wait_until(paused, "the connection did not pause")
    await switcher
    health = await health_of(product)
    sent_at_pause = interactions(product)

    async def row_two_has_grid() -> bool:
        return (await jobs_by_row(product))[2].status == JobStatus.UPSCALING

    await wait_until(row_two_has_grid, "the job in flight did not reach its grid")
    # Give the grid's download and its U1 press time to happen, were presses not held.
    await asyncio.sleep(0.3)
    jobs = await jobs_by_row(product)
    run = PausedRun(
        health=health,
        in_flight_status=jobs[2].status,
        sent_while_paused=interactions(product) - sent_at_pause,
    )
    assert not (await health_of(product)).working, "resumed before the fault was switched off"
    return batch_id, run


def assert_paused_quietly(run: PausedRun) -> None:
    assert run.sent_while_paused == 0
    assert run.in_flight_status == JobStatus.UPSCALING
    assert not run.health.working
    assert run.health.paused_at is not None


def assert_all_done(outcome: Outcome) -> None:
    assert [(line.row, line.status) for line in outcome.lines] == [
        (2, "done"),
        (3, "done"),
        (4, "done"),
    ]
    assert any(name.endswith("_U1.png") for name in outcome.lines_of(2)[0].files)


async def run_fault(
    tmp_path: Path, switch_on: Callable[[Product], None], switch_off: Callable[[Product], None]
) -> tuple[PausedRun, RecordingListener]:
    listener = RecordingListener()
    async with paused_product(tmp_path) as product:
        product.service.engine.add_connection_listener(listener)
        batch_id, run = await pause_midway(product, lambda: switch_on(product))
        switch_off(product)
        run.outcome = await product.finish(batch_id, within=30)
        assert (await health_of(product)).working
    return run, listener


async def test_pending_moderation_pauses_then_resumes(tmp_path: Path) -> None:
    def on(product: Product) -> None:
        product.knobs.pending_moderation = True

    def off(product: Product) -> None:
        product.knobs.pending_moderation = False

    run, listener = await run_fault(tmp_path, on, off)

    assert_paused_quietly(run)
    assert "pending moderation" in run.health.reason
    assert "Acknowledge" in run.health.advice
    assert run.health.link.startswith("https://discord.com/channels/1180000000000000001/")
    assert listener.kinds == ["paused", "resumed"]
    assert run.outcome is not None
    assert_all_done(run.outcome)


@dataclass(frozen=True, slots=True)
class PauseFault:
    """A fault that pauses the connection: its sandbox switches and what the owner reads."""

    switch_on: Callable[[Product], None]
    switch_off: Callable[[Product], None]
    reason: str  # a fragment of the pause reason
    advice: str = ""  # a fragment of the advice; "" checks none


def set_knob(name: str, value: Any) -> Callable[[Product], None]:
    return lambda product: setattr(product.knobs, name, value)


def reject_rest(rejection: Callable[[], Any]) -> Callable[[Product], None]:
    return lambda product: product.knobs.rejections.extend([rejection()] * REJECTIONS)


def clear_rejections(product: Product) -> None:
    product.knobs.rejections.clear()


PAUSE_FAULTS = {
    "subscription-ended": PauseFault(
        set_knob("subscription_ended", True),
        set_knob("subscription_ended", False),
        reason="subscription",
        advice="midjourney.com/account",
    ),
    "captcha-modal": PauseFault(
        set_knob("captcha_on_next_imagine", True), lambda product: None, reason="CAPTCHA"
    ),
    "captcha-on-rest": PauseFault(
        reject_rest(captcha_required), clear_rejections, reason="CAPTCHA"
    ),
    "blocked-account": PauseFault(reject_rest(forbidden), clear_rejections, reason="HTTP 403"),
    "used-up-fast-hours": PauseFault(
        set_knob("fast_jobs_left", 0), set_knob("fast_jobs_left", None), reason="fast hours"
    ),
}


@pytest.mark.parametrize("fault", PAUSE_FAULTS.values(), ids=PAUSE_FAULTS.keys())
async def test_account_fault_pauses_then_resumes(tmp_path: Path, fault: PauseFault) -> None:
    run, listener = await run_fault(tmp_path, fault.switch_on, fault.switch_off)

    assert_paused_quietly(run)
    assert fault.reason in run.health.reason
    assert fault.advice in run.health.advice
    assert run.health.speed_override == ""
    assert listener.kinds == ["paused", "resumed"]
    assert run.outcome is not None
    assert_all_done(run.outcome)


async def test_rejected_token_pauses_until_valid(tmp_path: Path) -> None:
    token = SANDBOX.user_token

    def account(product: Product) -> Any:
        return product.discord.account(product.sandbox.user_id)

    def on(product: Product) -> None:
        account(product).token = "revoked-token"

    def off(product: Product) -> None:
        account(product).token = token

    run, listener = await run_fault(tmp_path, on, off)

    assert_paused_quietly(run)
    assert "HTTP 401" in run.health.reason
    assert "Connect the account again" in run.health.advice
    assert listener.kinds == ["paused", "resumed"]
    assert run.outcome is not None
    assert_all_done(run.outcome)


async def test_used_up_fast_hours_switch_to_relax(tmp_path: Path) -> None:
    listener = RecordingListener()
    async with paused_product(tmp_path) as product:
        engine = product.service.engine
        engine.add_connection_listener(listener)
        await engine.set_connection_choices(
            product.connection_id, product.user_id, relax_when_fast_used_up=True
        )
        product.knobs.fast_jobs_left = 0
        batch_id = await product.run_sheet(ROWS)
        outcome = await product.finish(batch_id, within=30)
        health = await health_of(product)
        jobs = await jobs_by_row(product)

    assert listener.events == []
    assert health.working
    assert health.speed_override == "relax"
    assert [jobs[row].mode for row in (2, 3, 4)] == ["relax", "relax", "relax"]
    assert jobs[3].prompt.endswith("--relax")
    assert_all_done(outcome)


async def test_used_up_fast_hours_pause_without_relax_plan(tmp_path: Path) -> None:
    basic = SandboxSettings(time_scale=0.005, plan="basic")
    async with start_product(tmp_path, sandbox=basic, plan="basic") as product:
        engine = product.service.engine
        await engine.set_connection_choices(
            product.connection_id, product.user_id, relax_when_fast_used_up=True
        )
        product.knobs.fast_jobs_left = 0
        await product.run_sheet(["a red fox"])

        async def paused() -> bool:
            return not (await health_of(product)).working

        await wait_until(paused, "the connection did not pause")
        health = await health_of(product)

    assert "fast hours" in health.reason
    assert health.speed_override == ""


async def test_resume_connection_resumes_at_once(tmp_path: Path) -> None:
    async with paused_product(tmp_path, resume_probe_seconds=600.0) as product:
        engine = product.service.engine
        product.knobs.pending_moderation = True
        batch_id = await product.run_sheet(["a red fox", "a grey owl"])

        async def paused() -> bool:
            return not (await health_of(product)).working

        await wait_until(paused, "the connection did not pause")
        product.knobs.pending_moderation = False
        other_user_resumed = await engine.resume_connection(
            product.connection_id, product.user_id + 1
        )
        still_paused = not (await health_of(product)).working
        resumed = await engine.resume_connection(product.connection_id, product.user_id)
        outcome = await product.finish(batch_id, within=20)
        summary = await engine.health_summary()

    assert other_user_resumed is False
    assert still_paused
    assert resumed is True
    assert summary == {"working": 1, "paused": 0, "failing": 0}
    assert [line.status for line in outcome.lines] == ["done", "done"]


async def test_trial_answered_alike_stays_paused_quietly(tmp_path: Path) -> None:
    listener = RecordingListener()
    async with paused_product(tmp_path, resume_probe_seconds=0.4) as product:
        product.service.engine.add_connection_listener(listener)
        product.knobs.pending_moderation = True
        batch_id = await product.run_sheet(["a red fox", "a grey owl"])

        async def tried_twice() -> bool:
            return interactions(product) >= 3

        await wait_until(tried_twice, "no job was let through to check the account")
        paused_after_trials = not (await health_of(product)).working
        product.knobs.pending_moderation = False
        outcome = await product.finish(batch_id, within=20)

    assert paused_after_trials
    assert listener.kinds == ["paused", "resumed"]
    assert [line.status for line in outcome.lines] == ["done", "done"]
