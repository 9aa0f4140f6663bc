"""The dispatcher: slots per plan, fairness between batches, pacing, caps and crash safety."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from sqlalchemy import select

from midjourney.relay import MIN_RETRY_SECONDS, InteractionRejectedError, RateLimitedError
from pipeline.batches import insert_batch
from pipeline.dispatch_choice import SlotLimits
from pipeline.dispatcher import Dispatcher
from pipeline.ledger import JobLedger
from pipeline.pacing import Pacer
from pipeline.progress import BatchOptions
from pipeline.tracker.tracker import MAX_SEND_ATTEMPTS
from storage.models import (
    BatchOrigin,
    FailureCategory,
    Job,
    JobStatus,
    MidjourneyConnection,
    User,
)
from tests.pipeline.engine_support import RecordingRelay, make_intake


async def add_connection(ledger: JobLedger) -> int:
    async with ledger.transaction() as session:
        user = User(discord_user_id="402193844750254081")
        session.add(user)
        await session.flush()
        connection = MidjourneyConnection(
            user_id=user.id, guild_id="1", channel_id="2", plan="basic", token_ciphertext=b"x"
        )
        session.add(connection)
        await session.flush()
        return connection.id


async def add_batch(
    ledger: JobLedger, connection_id: int, prompts: list[str], mode: str = "fast"
) -> int:
    async with ledger.transaction() as session:
        batch = await insert_batch(
            session,
            user_id=1,
            intake=make_intake(prompts),
            options=BatchOptions(mode=mode),
            origin=BatchOrigin.DEMO,
            connection_id=connection_id,
            discord_channel_id=None,
            confirmed=True,
        )
        return batch.id


def dispatcher(ledger, connection_id, relay, *, fast=2, relax=0, gap=0.0, cap=1000, backoff=30.0):
    return Dispatcher(
        connection_id=connection_id,
        relay=relay,
        ledger=ledger,
        pacer=Pacer(gap),
        limits=SlotLimits(fast=fast, relax=relax),
        daily_cap=cap,
        queue_full_backoff=backoff,
    )


async def job_by_prompt(ledger: JobLedger, prompt: str) -> Job:
    async with ledger.db.sessions() as session:
        return (await session.scalars(select(Job).where(Job.prompt == prompt))).one()


@pytest.fixture
async def ledger(db) -> JobLedger:
    return JobLedger(db)


async def test_fills_exactly_the_plan_slots(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, [f"fox {i}" for i in range(5)])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=3)

    sent = [await sender.send_next() for _ in range(5)]

    assert sent == [True, True, True, False, False]
    assert [prompt for prompt, _, _ in relay.imagined] == ["fox 0", "fox 1", "fox 2"]


async def test_freed_slot_is_refilled(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c"])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=2)
    await sender.send_next()
    await sender.send_next()
    assert await sender.send_next() is False

    first = await job_by_prompt(ledger, "a")
    await ledger.update(first.id, status=JobStatus.UPSCALING)  # grid arrived: slot freed

    assert await sender.send_next() is True
    assert relay.imagined[-1][0] == "c"


async def test_batches_share_slots_round_robin(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a1", "a2", "a3", "a4"])
    await add_batch(ledger, connection_id, ["b1", "b2"])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=10)

    while await sender.send_next():
        pass

    assert [prompt for prompt, _, _ in relay.imagined] == ["a1", "b1", "a2", "b2", "a3", "a4"]


async def test_relax_jobs_use_relax_slots(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["r1", "r2", "r3"], mode="relax")
    await add_batch(ledger, connection_id, ["f1", "f2"])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=1, relax=2)

    while await sender.send_next():
        pass

    # Relax jobs carry the flag, so Midjourney runs them in the mode their slots assume.
    assert sorted(prompt for prompt, _, _ in relay.imagined) == ["f1", "r1 --relax", "r2 --relax"]


async def test_gap_between_interactions(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c"])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=3, gap=0.15)

    for _ in range(3):
        await sender.send_next()

    times = [sent_at for _, _, sent_at in relay.imagined]
    assert times[1] - times[0] >= 0.15
    assert times[2] - times[1] >= 0.15


async def test_daily_cap_stops_sending(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c"])
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=3, cap=2)

    sent = [await sender.send_next() for _ in range(3)]

    assert sent == [True, True, False]
    assert len(relay.imagined) == 2


async def test_nonce_committed_before_send(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox"])
    relay = RecordingRelay()
    seen: list[Job] = []

    async def read_row_during_send(prompt: str, nonce: str) -> None:
        seen.append(await job_by_prompt(ledger, prompt))

    relay.on_imagine = read_row_during_send
    await dispatcher(ledger, connection_id, relay).send_next()

    assert seen[0].status == JobStatus.SUBMITTED
    assert seen[0].nonce == relay.imagined[0][1]
    assert seen[0].attempts == 1


async def test_rejected_send_goes_back_to_queue(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox"])
    relay = RecordingRelay()
    relay.imagine_error = InteractionRejectedError(
        400, {"code": 50035, "message": "Invalid Form Body"}
    )

    await dispatcher(ledger, connection_id, relay).send_next()

    job = await job_by_prompt(ledger, "a red fox")
    assert job.status == JobStatus.QUEUED
    assert job.nonce is None
    assert job.attempts == 1


async def test_rejected_three_times_fails(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox"])
    relay = RecordingRelay()
    relay.imagine_error = InteractionRejectedError(
        400, {"code": 50035, "message": "Invalid Form Body"}
    )
    sender = dispatcher(ledger, connection_id, relay)

    for _ in range(3):
        await sender.send_next()

    job = await job_by_prompt(ledger, "a red fox")
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.MIDJOURNEY_ERROR
    assert await sender.send_next() is False


async def test_rate_limited_send_waits_before_sending_again(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox", "a blue whale"])
    relay = RecordingRelay()
    relay.imagine_error = RateLimitedError({"retry_after": 60.0, "global": False})
    sender = dispatcher(ledger, connection_id, relay, fast=3)

    await sender.send_next()
    relay.imagine_error = None
    await sender.send_next()

    job = await job_by_prompt(ledger, "a red fox")
    assert job.status == JobStatus.QUEUED
    assert relay.imagined == []


class RateLimitedRelay(RecordingRelay):
    """A relay whose first ``limited`` prompts Discord answers with 429."""

    def __init__(self, limited: int) -> None:
        super().__init__()
        self.limited = limited
        self.rate_limited = 0

    async def imagine(self, prompt: str, *, nonce: str | None = None) -> str:
        if self.rate_limited < self.limited:
            self.rate_limited += 1
            raise RateLimitedError({"retry_after": 0.0, "global": False})
        return await super().imagine(prompt, nonce=nonce)


async def test_rate_limited_sends_are_not_counted_as_attempts(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox"])
    relay = RateLimitedRelay(limited=MAX_SEND_ATTEMPTS + 2)
    sender = dispatcher(ledger, connection_id, relay, backoff=0.0)

    async with asyncio.timeout(5):
        while not relay.imagined:
            await sender.send_next()
            await asyncio.sleep(MIN_RETRY_SECONDS)  # the shortest wait a 429 asks for

    job = await job_by_prompt(ledger, "a red fox")
    assert relay.rate_limited == MAX_SEND_ATTEMPTS + 2
    assert job.status == JobStatus.SUBMITTED
    assert job.attempts == 1
    assert [prompt for prompt, _, _ in relay.imagined] == ["a red fox"]


async def test_unknown_send_outcome_keeps_job_submitted(ledger, monkeypatch):
    # No back-off after the unknown outcome, so the second call sends at once.
    monkeypatch.setattr("pipeline.dispatcher.UNKNOWN_OUTCOME_BACKOFF_SECONDS", 0.0)
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a red fox", "a blue whale"])
    relay = RecordingRelay()
    relay.imagine_error = aiohttp.ServerDisconnectedError()
    sender = dispatcher(ledger, connection_id, relay, fast=3)

    await sender.send_next()

    job = await job_by_prompt(ledger, "a red fox")
    assert job.status == JobStatus.SUBMITTED
    assert job.nonce is not None
    # The job still holds its slot and is never sent again by the dispatcher itself.
    relay.imagine_error = None
    await sender.send_next()
    assert [prompt for prompt, _, _ in relay.imagined] == ["a blue whale"]


async def test_cancel_stops_dispatcher_just_woken(ledger):
    connection_id = await add_connection(ledger)
    sender = dispatcher(ledger, connection_id, RecordingRelay())
    idle = asyncio.Event()
    send_next = sender.send_next

    async def send_next_noting_idle() -> bool:
        sent = await send_next()
        if not sent:
            idle.set()
        return sent

    sender.send_next = send_next_noting_idle  # type: ignore[method-assign]
    task = asyncio.create_task(sender.run())
    await idle.wait()  # nothing to send: the dispatcher now waits for a wake

    # A job change wakes the dispatcher in the step that stops the engine.
    sender.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)

    if not done:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task in done
    assert task.cancelled()
