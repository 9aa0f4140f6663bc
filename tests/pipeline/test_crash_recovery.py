"""Work recorded but never sent when the process died: lost presses and unsent prompts.

Each test runs one engine until a prompt or a button press is committed and stops it
before the request goes out. The relay stalls in the send, because a killed process
never sends it. A second engine on the same database then plays the restarted process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import select

from midjourney.messages import ChannelMessage, EventSource, MessageCreated
from midjourney.replies import upscale_custom_id
from pipeline.engine import Engine
from pipeline.progress import BatchOptions
from pipeline.variations import VariationStatus, renders_of
from storage.models import BatchOrigin, FailureCategory, Image, ImageKind, Job, JobStatus
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_support import (
    CdnServer,
    RecordingRelay,
    make_intake,
    png_bytes,
    wait_for,
)

Build = Callable[..., Any]


@pytest.fixture
async def cdn() -> AsyncIterator[CdnServer]:
    server = CdnServer()
    await server.start()
    yield server
    await server.stop()


def stall_presses(relay: RecordingRelay, custom_id_part: str) -> list[str]:
    """Make presses whose custom_id contains ``custom_id_part`` hang; return their custom_ids.

    A hanging press stands for a process killed after committing the press and before
    sending it: stopping the engine cancels it, so nothing reaches Discord.
    """
    stalled: list[str] = []
    record = relay.press

    async def press(message_id: str, custom_id: str, **options: Any) -> str:
        if custom_id_part in custom_id:
            stalled.append(custom_id)
            await asyncio.Event().wait()
        return await record(message_id, custom_id, **options)

    relay.press = press  # type: ignore[method-assign]
    return stalled


async def start_batch(
    engine: Engine, relays: list[RecordingRelay], *, stall_prompt: bool = False, **row: Any
) -> int:
    """Start the engine, queue one "a red fox" row, and wait until its prompt is sent.

    With ``stall_prompt`` the relay hangs in the send, after the job was committed.
    """
    await engine.start()
    user_id = await engine.ensure_user(mj.USER_ID)
    await engine.add_connection(
        user_id, token="t", guild_id=mj.GUILD_ID, channel_id=mj.CHANNEL_ID, plan="basic"
    )
    if stall_prompt:
        relays[0].on_imagine = hang
    batch_id = await engine.create_batch(
        user_id, make_intake(["a red fox"], **row), BatchOptions(), origin=BatchOrigin.DEMO
    )

    async def sent() -> bool:
        return len(relays[0].imagined) == 1

    await wait_for(sent)
    return batch_id


async def hang(*_arguments: Any) -> None:
    await asyncio.Event().wait()


async def deliver_grid(engine: Engine, relay: RecordingRelay, cdn: CdnServer) -> ChannelMessage:
    """Reply to the sent prompt with "Waiting to start" and its grid; return the grid."""
    prompt, nonce, _ = relay.imagined[0]
    grid = mj.grid(prompt, mj.new_job_uuid(), cdn.add("grid.png", png_bytes()))
    await engine.handle_channel_event(
        MessageCreated(mj.waiting(prompt, nonce=nonce), EventSource.BOT)
    )
    await engine.handle_channel_event(MessageCreated(grid, EventSource.BOT))
    return grid


async def the_job(engine: Engine) -> Job:
    async with engine.db.sessions() as session:
        job = await session.scalar(select(Job))
    assert job is not None
    return job


async def stored_images(engine: Engine, job_id: str) -> list[tuple[ImageKind, int]]:
    async with engine.db.sessions() as session:
        images = await session.scalars(select(Image).where(Image.job_id == job_id))
        return sorted((image.kind, image.index) for image in images)


async def wait_pressed(engine: Engine, indexes: list[int]) -> None:
    async def recorded() -> bool:
        return (await the_job(engine)).upscales_pressed == indexes

    await wait_for(recorded)


async def crash_after_recording_u4(
    make_engine: Build, cdn: CdnServer
) -> tuple[int, ChannelMessage]:
    """Run a row wanting U2 and U4 until U2 is pressed and U4 only recorded; stop the engine."""
    engine, relays = await make_engine()
    batch_id = await start_batch(engine, relays, upscales=(2, 4), upscales_set=True)
    stalled = stall_presses(relays[0], "::upsample::4::")
    grid = await deliver_grid(engine, relays[0], cdn)
    await wait_pressed(engine, [2, 4])

    async def u4_stalled() -> bool:
        return len(stalled) == 1

    await wait_for(u4_stalled)
    assert [custom_id for _, custom_id, _ in relays[0].pressed] == [
        upscale_custom_id(grid.buttons, 2)
    ]
    await engine.stop()
    return batch_id, grid


def upscale_reply(grid: ChannelMessage, index: int, cdn: CdnServer, name: str) -> ChannelMessage:
    prompt = "a red fox"
    return mj.upscale(prompt, index, grid.id, cdn.add(name, png_bytes(32, 32)))


async def test_restart_presses_lost_upscale_again(make_engine, cdn):
    batch_id, grid = await crash_after_recording_u4(make_engine, cdn)

    # Midjourney replied to U2 while no process listened, and U4 never reached it.
    u2 = upscale_reply(grid, 2, cdn, "u2.png")
    restarted, relays = await make_engine(history=[grid, u2])
    await restarted.start()

    async def pressed_again() -> bool:
        return len(relays[0].pressed) == 1

    await wait_for(pressed_again)
    message_id, custom_id, _ = relays[0].pressed[0]
    assert message_id == grid.id
    assert custom_id.startswith("MJ::JOB::upsample::4::")

    u4 = upscale_reply(grid, 4, cdn, "u4.png")
    await restarted.handle_channel_event(MessageCreated(u4, EventSource.BOT))
    await restarted.wait_finished(batch_id)
    job = await the_job(restarted)
    assert job.status == JobStatus.DONE
    assert job.upscales_pressed == [2, 4, 4]
    assert await stored_images(restarted, job.id) == [
        (ImageKind.GRID, 0),
        (ImageKind.UPSCALE, 2),
        (ImageKind.UPSCALE, 4),
    ]


async def test_restart_leaves_press_with_notice_alone(make_engine, cdn):
    _, grid = await crash_after_recording_u4(make_engine, cdn)

    # "Upscaling image #4" shows that Midjourney got the press after all.
    notice = ChannelMessage.from_payload(
        mj.message_payload(
            content="Upscaling image #4 with **a red fox** - <@402193844750254081> (fast)",
            message_reference={"message_id": grid.id, "channel_id": mj.CHANNEL_ID},
        )
    )
    u2 = upscale_reply(grid, 2, cdn, "u2.png")
    restarted, relays = await make_engine(history=[grid, u2, notice])
    await restarted.start()
    await restarted.fetcher.wait_idle()

    assert relays[0].pressed == []
    assert (await the_job(restarted)).upscales_pressed == [2, 4]


async def test_lost_upscale_pressed_again_only_once(make_engine, cdn):
    batch_id, grid = await crash_after_recording_u4(make_engine, cdn)
    u2 = upscale_reply(grid, 2, cdn, "u2.png")
    second, _ = await make_engine(history=[grid, u2])
    await second.start()
    await wait_pressed(second, [2, 4, 4])
    await second.fetcher.wait_idle()
    await second.stop()  # dies again before U4's reply

    third, relays = await make_engine(history=[grid, u2], upscale=0.3)
    await third.start()
    await third.wait_finished(batch_id)

    assert relays[0].pressed == []
    job = await the_job(third)
    assert job.upscales_pressed == [2, 4, 4]
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.TIMED_OUT
    assert "U4 missing" in job.failure_message
    assert await stored_images(third, job.id) == [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 2)]


async def test_sweep_presses_lost_upscale_before_giving_up(make_engine, cdn):
    batch_id, grid = await crash_after_recording_u4(make_engine, cdn)
    u2 = upscale_reply(grid, 2, cdn, "u2.png")
    # The history read at start reaches no grid, so only the sweep can press U4 again.
    restarted, relays = await make_engine(history=[], upscale=0.3)
    await restarted.start()
    assert relays[0].pressed == []
    relays[0].history = [grid, u2]

    async def pressed_again() -> bool:
        return len(relays[0].pressed) == 1

    await wait_for(pressed_again)
    assert relays[0].pressed[0][1].startswith("MJ::JOB::upsample::4::")
    u4 = upscale_reply(grid, 4, cdn, "u4.png")
    await restarted.handle_channel_event(MessageCreated(u4, EventSource.BOT))
    await restarted.wait_finished(batch_id)

    job = await the_job(restarted)
    assert job.status == JobStatus.DONE
    assert job.upscales_pressed == [2, 4, 4]


async def test_second_upscale_reply_adds_no_image(make_engine, cdn):
    engine, relays = await make_engine()
    batch_id = await start_batch(engine, relays, upscales=(2,), upscales_set=True)
    grid = await deliver_grid(engine, relays[0], cdn)
    await wait_pressed(engine, [2])

    # A press sent twice makes Midjourney post "Image #2" twice, both before either is stored.
    first = upscale_reply(grid, 2, cdn, "u2-first.png")
    cdn.failures_left["u2-first.png"] = 1  # keeps the first download busy for a retry delay
    repeat = upscale_reply(grid, 2, cdn, "u2-repeat.png")
    await engine.handle_channel_event(MessageCreated(first, EventSource.BOT))
    await engine.handle_channel_event(MessageCreated(repeat, EventSource.BOT))
    await engine.wait_finished(batch_id)

    job = await the_job(engine)
    assert job.status == JobStatus.DONE
    async with engine.db.sessions() as session:
        upscales = list(
            await session.scalars(
                select(Image).where(Image.job_id == job.id, Image.kind == ImageKind.UPSCALE)
            )
        )
    assert [(image.index, image.discord_message_id) for image in upscales] == [(2, first.id)]
    assert not any("u2-repeat.png" in request for request in cdn.requests)


async def test_unsent_prompt_resent_after_waiting_timeout(make_engine):
    engine, relays = await make_engine()
    await start_batch(engine, relays, stall_prompt=True)
    job = await the_job(engine)
    assert job.status == JobStatus.SUBMITTED
    await engine.stop()  # killed: the nonce is committed, the request never went out

    restarted, relays = await make_engine(waiting_message=0.5)
    await restarted.start()
    await asyncio.sleep(0.2)
    assert relays[0].imagined == []  # within its timeout a reply may still come

    async def resent() -> bool:
        return len(relays[0].imagined) == 1

    await wait_for(resent)
    job = await the_job(restarted)
    assert job.status == JobStatus.SUBMITTED
    assert job.attempts == 2
    assert job.nonce == relays[0].imagined[0][1]


async def test_unsent_variation_press_pressed_again(make_engine, cdn):
    engine, relays = await make_engine()
    await start_batch(engine, relays, variations=(1,))
    stalled = stall_presses(relays[0], "::variation::1::")
    grid = await deliver_grid(engine, relays[0], cdn)

    async def v1_stalled() -> bool:
        return len(stalled) == 1

    await wait_for(v1_stalled)
    await engine.stop()

    restarted, relays = await make_engine(history=[grid], waiting_message=0.3)
    await restarted.start()

    async def pressed_again() -> bool:
        return len(relays[0].pressed) == 1

    await wait_for(pressed_again)
    assert relays[0].pressed[0][1].startswith("MJ::JOB::variation::1::")
    render = renders_of(await the_job(restarted))[1]
    assert render.status == VariationStatus.SUBMITTED
    assert render.attempts == 2
    assert render.nonce == relays[0].pressed[0][2]


async def test_upscale_stored_just_before_a_kill_is_not_left_pending(make_engine, cdn):
    engine, relays = await make_engine()
    batch_id = await start_batch(engine, relays, upscales=(2,), upscales_set=True)
    grid = await deliver_grid(engine, relays[0], cdn)
    await wait_pressed(engine, [2])
    u2 = upscale_reply(grid, 2, cdn, "u2.png")
    await engine.handle_channel_event(MessageCreated(u2, EventSource.BOT))
    await engine.wait_finished(batch_id)
    await engine.stop()

    # The state a kill between storing U2 and taking it off the pending list leaves behind.
    async with engine.db.sessions() as session, session.begin():
        job = await session.scalar(select(Job))
        assert job is not None
        job.status, job.upscales_pending, job.finished_at = JobStatus.UPSCALING, [2], None

    restarted, _ = await make_engine(history=[grid, u2])
    await restarted.start()

    async def done() -> bool:
        return (await the_job(restarted)).status == JobStatus.DONE

    await wait_for(done)
    job = await the_job(restarted)
    assert job.upscales_pending == []
    assert await stored_images(restarted, job.id) == [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 2)]
