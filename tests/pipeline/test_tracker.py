"""The tracker across restarts and timeouts: re-attach, look in history, never send twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from midjourney.messages import (
    EventSource,
    InteractionFailed,
    InteractionSucceeded,
    MessageCreated,
    ModalCreated,
)
from pipeline.engine import Engine
from pipeline.progress import BatchOptions
from pipeline.tracker.tracker import MAX_SEND_ATTEMPTS
from storage.models import (
    BatchOrigin,
    ConnectionState,
    FailureCategory,
    Image,
    ImageKind,
    Job,
    JobStatus,
    MidjourneyConnection,
)
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_support import (
    CdnServer,
    RecordingRelay,
    make_intake,
    png_bytes,
    wait_for,
)


async def jobs(engine: Engine) -> list[Job]:
    async with engine.db.sessions() as session:
        return list(await session.scalars(select(Job).order_by(Job.sequence)))


async def first_run(make_engine, prompts: list[str], **row) -> tuple[Engine, RecordingRelay, int]:
    engine, relays = await make_engine()
    await engine.start()
    user_id = await engine.ensure_user(mj.USER_ID)
    await engine.add_connection(
        user_id, token="t", guild_id=mj.GUILD_ID, channel_id=mj.CHANNEL_ID, plan="basic"
    )
    batch_id = await engine.create_batch(
        user_id, make_intake(prompts, **row), BatchOptions(), origin=BatchOrigin.DEMO
    )

    async def all_sent() -> bool:
        return len(relays[0].imagined) == min(len(prompts), 3)

    await wait_for(all_sent)
    return engine, relays[0], batch_id


async def test_restart_reattaches_from_history_without_resending(make_engine):
    engine, relay, _ = await first_run(make_engine, ["a red fox", "a blue whale"])
    (fox, fox_nonce, _), _ = relay.imagined
    await engine.stop()  # the process dies before any reply arrives

    # While no process listened, Midjourney replied to the fox (history has no nonces).
    answered = mj.waiting(fox, nonce=None)
    restarted, relays = await make_engine(history=[answered])
    await restarted.start()

    fox_job, whale_job = await jobs(restarted)
    assert fox_job.status == JobStatus.WAITING
    assert fox_job.progress_message_id == answered.id
    assert fox_job.nonce == fox_nonce
    assert whale_job.status == JobStatus.SUBMITTED
    assert relays[0].imagined == []  # nothing was sent again


async def test_unacknowledged_job_resent_after_timeout(make_engine):
    engine, _, _ = await first_run(make_engine, ["a red fox"])
    await engine.stop()

    restarted, relays = await make_engine(waiting_message=0.2)
    await restarted.start()

    async def resent() -> bool:
        return len(relays[0].imagined) == 1

    await wait_for(resent)
    job = (await jobs(restarted))[0]
    assert job.status == JobStatus.SUBMITTED
    assert job.attempts == 2
    assert job.nonce == relays[0].imagined[0][1]


async def test_acknowledged_job_without_reply_retried_then_fails(make_engine):
    engine, relays = await make_engine(waiting_message=0.2)
    await engine.start()
    user_id = await engine.ensure_user(mj.USER_ID)
    await engine.add_connection(
        user_id, token="t", guild_id=mj.GUILD_ID, channel_id=mj.CHANNEL_ID, plan="basic"
    )
    batch_id = await engine.create_batch(
        user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )

    async def sent() -> bool:
        return len(relays[0].imagined) == 1

    await wait_for(sent)
    _, nonce, _ = relays[0].imagined[0]
    await relays[0].emit(InteractionSucceeded("1250000000000000001", nonce))

    await engine.wait_finished(batch_id)

    # Midjourney may acknowledge a prompt and drop it, so a prompt with no reply in
    # history is sent again, and each send counts as an attempt.
    job = (await jobs(engine))[0]
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.TIMED_OUT
    assert job.attempts == MAX_SEND_ATTEMPTS
    assert len(relays[0].imagined) == MAX_SEND_ATTEMPTS
    assert f"sent {MAX_SEND_ATTEMPTS} times" in job.failure_message


async def test_timed_out_job_found_in_history_is_kept(make_engine):
    engine, relays = await make_engine(waiting_message=0.2)
    await engine.start()
    user_id = await engine.ensure_user(mj.USER_ID)
    await engine.add_connection(
        user_id, token="t", guild_id=mj.GUILD_ID, channel_id=mj.CHANNEL_ID, plan="basic"
    )
    await engine.create_batch(
        user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )

    async def sent() -> bool:
        return len(relays[0].imagined) == 1

    await wait_for(sent)
    # The reply went to no stream we heard, but it is in the channel's history.
    relays[0].history.append(mj.waiting("a red fox", nonce=None))

    async def recovered() -> bool:
        return (await jobs(engine))[0].status == JobStatus.WAITING

    await wait_for(recovered)
    assert len(relays[0].imagined) == 1


async def test_interaction_failure_requeues_and_resends(make_engine):
    engine, relay, _ = await first_run(make_engine, ["a red fox"])
    _, nonce, _ = relay.imagined[0]

    await relay.emit(InteractionFailed("1250000000000000002", nonce, reason_code=2))

    async def resent() -> bool:
        return len(relay.imagined) == 2

    await wait_for(resent)
    job = (await jobs(engine))[0]
    assert job.attempts == 2
    assert job.nonce == relay.imagined[1][1] != nonce


async def test_captcha_pauses_connection_and_keeps_job_queued(make_engine):
    engine, relay, _ = await first_run(make_engine, ["a red fox"])
    _, nonce, _ = relay.imagined[0]

    captcha = ModalCreated(
        "1250000000000000003",
        nonce,
        "MJ::iframe::abc",
        "Action required to continue",
        iframe_path="/captcha/embedded/abc",
    )
    await relay.emit(captcha)

    job = (await jobs(engine))[0]
    assert job.status == JobStatus.QUEUED
    async with engine.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, job.connection_id)
    assert connection is not None
    assert connection.state == ConnectionState.PAUSED
    assert "CAPTCHA" in connection.pause_reason
    await asyncio.sleep(0.1)
    assert len(relay.imagined) == 1  # a paused connection sends nothing


async def test_restart_after_variation_press_never_presses_again(make_engine):
    cdn = CdnServer()
    await cdn.start()
    try:
        engine, relay, batch_id = await first_run(make_engine, ["a red fox"], variations=(1,))
        prompt, nonce, _ = relay.imagined[0]
        grid_uuid = mj.new_job_uuid()
        grid = mj.grid(prompt, grid_uuid, cdn.add("grid.png", png_bytes()))
        await engine.handle_channel_event(
            MessageCreated(mj.waiting(prompt, nonce=nonce), EventSource.BOT)
        )
        await engine.handle_channel_event(MessageCreated(grid, EventSource.BOT))

        async def pressed() -> bool:
            return len(relay.pressed) == 1

        await wait_for(pressed)
        await engine.stop()  # the process dies after pressing V1

        # While no process listened, Midjourney rendered the variation (history has no nonces).
        waiting = mj.waiting(prompt, nonce=None, action=mj.VARIATIONS, reference_id=grid.id)
        variation_uuid = mj.new_job_uuid()
        url = cdn.add("variation.png", png_bytes(32, 32))
        final = mj.grid(prompt, variation_uuid, url, reference_id=waiting.id, action=mj.VARIATIONS)
        restarted, relays = await make_engine(history=[grid, waiting, final])
        await restarted.start()
        await restarted.wait_finished(batch_id)

        job = (await jobs(restarted))[0]
        assert job.status == JobStatus.DONE
        assert relays[0].pressed == []  # V1 was not pressed a second time
        async with restarted.db.sessions() as session:
            images = list(await session.scalars(select(Image).where(Image.job_id == job.id)))
        stored = sorted((image.kind, image.index, image.discord_message_id) for image in images)
        assert stored == sorted([(ImageKind.GRID, 0, grid.id), (ImageKind.VARIATION, 1, final.id)])
    finally:
        await cdn.stop()


async def test_restart_after_upscale_press_never_presses_again(make_engine):
    cdn = CdnServer()
    await cdn.start()
    try:
        engine, relay, batch_id = await first_run(
            make_engine, ["a red fox"], upscales=(2,), upscales_set=True
        )
        prompt, nonce, _ = relay.imagined[0]
        grid = mj.grid(prompt, mj.new_job_uuid(), cdn.add("grid.png", png_bytes()))
        await engine.handle_channel_event(
            MessageCreated(mj.waiting(prompt, nonce=nonce), EventSource.BOT)
        )
        await engine.handle_channel_event(MessageCreated(grid, EventSource.BOT))

        async def pressed() -> bool:
            return len(relay.pressed) == 1

        await wait_for(pressed)
        await engine.stop()  # the process dies after pressing U2

        # While no process listened, Midjourney posted the upscale.
        upscaled = mj.upscale(prompt, 2, grid.id, cdn.add("u2.png", png_bytes(32, 32)))
        restarted, relays = await make_engine(history=[grid, upscaled])
        await restarted.start()
        await restarted.wait_finished(batch_id)

        job = (await jobs(restarted))[0]
        assert job.status == JobStatus.DONE
        assert relays[0].pressed == []  # U2 was not pressed a second time
        async with restarted.db.sessions() as session:
            images = list(await session.scalars(select(Image).where(Image.job_id == job.id)))
        stored = sorted((image.kind, image.index) for image in images)
        assert stored == sorted([(ImageKind.GRID, 0), (ImageKind.UPSCALE, 2)])
    finally:
        await cdn.stop()


async def test_reply_before_engine_start_is_kept(make_engine):
    engine, relay, _ = await first_run(make_engine, ["a red fox"])
    (fox, _, _), *_ = relay.imagined
    await engine.stop()

    # The bot's gateway is up before the engine: the reply arrives, then start() reads it
    # again from history.
    answered = mj.waiting(fox, nonce=None)
    restarted, _ = await make_engine(history=[answered])
    await restarted.handle_channel_event(MessageCreated(answered, EventSource.BOT))
    await restarted.start()

    job = (await jobs(restarted))[0]
    assert job.status == JobStatus.WAITING
    assert job.progress_message_id == answered.id


async def test_progress_deleted_while_down_fails_as_moderated_after_restart(make_engine):
    engine, relay, _ = await first_run(make_engine, ["a red fox"])
    ((fox, nonce, _),) = relay.imagined
    started = mj.waiting(fox, nonce=nonce)
    await engine.handle_channel_event(MessageCreated(started, EventSource.BOT))

    async def running() -> bool:
        return (await jobs(engine))[0].progress_message_id == started.id

    await wait_for(running)
    await engine.stop()

    # While no process listened, Midjourney deleted the progress message (post-moderation):
    # history no longer has it, and no grid followed.
    restarted, _ = await make_engine(history=[], deleted_progress_grace=0.2)
    await restarted.start()

    async def failed() -> bool:
        return (await jobs(restarted))[0].status == JobStatus.FAILED

    await wait_for(failed)
    job = (await jobs(restarted))[0]
    assert job.failure_category == FailureCategory.MODERATED
