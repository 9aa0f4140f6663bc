"""The engine end to end with a recording relay: replies in, images and outputs out."""

from __future__ import annotations

import zipfile

import pytest

from midjourney.messages import EventSource, MessageCreated, MessageDeleted, MessageUpdated
from pipeline.engine import NoConnectionError
from pipeline.ledger import JobChange
from pipeline.progress import BatchOptions
from storage.models import (
    BatchOrigin,
    BatchStatus,
    FailureCategory,
    ImageKind,
    JobStatus,
    MidjourneyConnection,
)
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import images_of, jobs_of, run_to_grid, wait_sent
from tests.pipeline.engine_support import make_intake, png_bytes, wait_for


async def test_batch_runs_to_zip_with_split_grids_and_upscale(rig):
    intake = make_intake(
        ["a red fox in snow --ar 4:3", "a blue whale"], upscales=(2,), upscales_set=True
    )
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(split_grids=True), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 2)

    grids = {}
    for prompt, nonce, _ in rig.relay.imagined:
        grids[prompt] = await run_to_grid(rig, prompt, nonce)

    async def both_pressed() -> bool:
        return len(rig.relay.pressed) == 2

    await wait_for(both_pressed)
    for message_id, custom_id, _ in rig.relay.pressed:
        assert custom_id.startswith("MJ::JOB::upsample::2::")
        prompt = next(p for p, grid_id in grids.items() if grid_id == message_id)
        url = rig.cdn.add(f"up-{message_id}.png", png_bytes(32, 32))
        await rig.engine.handle_channel_event(
            MessageCreated(mj.upscale(prompt, 2, message_id, url), EventSource.USER)
        )

    result = await rig.engine.wait_finished(batch_id)

    assert result.status == BatchStatus.DONE.value
    assert rig.listener.finished == [result]
    for job in await jobs_of(rig.engine, batch_id):
        assert job.status == JobStatus.DONE
        kinds = [(image.kind, image.index) for image in await images_of(rig.engine, job.id)]
        assert sorted(kinds) == sorted(
            [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 2)]
            + [(ImageKind.QUADRANT, i) for i in range(1, 5)]
        )
    with zipfile.ZipFile(result.zip_paths[0]) as archive:
        assert len([name for name in archive.namelist() if name.endswith(".png")]) == 12
    assert rig.listener.progress[-1].done == 2


async def test_same_message_from_both_streams_counts_once(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    changes: list[JobChange] = []
    rig.engine.ledger.subscribe(changes.append)

    waiting = mj.waiting(prompt, nonce=nonce)
    await rig.engine.handle_channel_event(MessageCreated(waiting, EventSource.BOT))
    await rig.relay.emit(MessageCreated(waiting, EventSource.USER))

    assert len(changes) == 1
    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.WAITING
    assert job.progress_message_id == waiting.id


async def test_job_queued_is_waiting_not_failure(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]

    queued = mj.embed_reply(
        "Job queued",
        "You have reached the maximum allowed number of concurrent jobs.",
        prompt,
        nonce=nonce,
        color=16776960,
    )
    await rig.engine.handle_channel_event(MessageCreated(queued, EventSource.BOT))

    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.WAITING
    assert job.failure_category is None
    # The run that starts later still matches the job by its prompt.
    grid_id = await run_to_grid(rig, prompt, nonce="")
    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.grid_message_id == grid_id


async def test_queue_full_requeues_and_resends(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]

    full = mj.embed_reply(
        "Queue full",
        "Your job queue is full. Please wait for a job to finish first, then resubmit this one.",
        prompt,
        nonce=nonce,
    )
    await rig.engine.handle_channel_event(MessageCreated(full, EventSource.BOT))
    await wait_sent(rig, 2)

    assert rig.relay.imagined[1][0] == prompt
    assert rig.relay.imagined[1][1] != nonce
    assert rig.relay.imagined[1][2] - rig.relay.imagined[0][2] >= 0.2  # the back-off
    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.attempts == 2
    assert job.nonce == rig.relay.imagined[1][1]


async def test_invalid_parameter_fails_with_reason(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox --ar 1.5:1"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]

    error = mj.embed_reply(
        "Invalid parameter",
        "Invalid aspect ratio 1.5:1; use whole numbers like 3:2.",
        prompt,
        nonce=nonce,
    )
    await rig.engine.handle_channel_event(MessageCreated(error, EventSource.USER))
    result = await rig.engine.wait_finished(batch_id)

    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.INVALID
    assert "1.5:1" in job.failure_message
    assert result.status == BatchStatus.DONE.value


async def test_deleted_progress_without_grid_is_moderated(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    waiting = mj.waiting(prompt, nonce=nonce)
    await rig.engine.handle_channel_event(MessageCreated(waiting, EventSource.BOT))
    await rig.engine.handle_channel_event(
        MessageUpdated(mj.progress(prompt, waiting.id, 93, mj.new_job_uuid()), EventSource.BOT)
    )

    await rig.engine.handle_channel_event(
        MessageDeleted(waiting.id, mj.CHANNEL_ID, EventSource.BOT)
    )
    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.RUNNING  # not failed yet: a grid may follow

    await rig.engine.wait_finished(batch_id)
    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.MODERATED


async def test_grid_after_deletion_is_not_moderated(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(["a red fox"]), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]

    await run_to_grid(rig, prompt, nonce)  # deletes the progress message before the grid
    result = await rig.engine.wait_finished(batch_id)

    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.DONE
    assert result.status == BatchStatus.DONE.value


async def test_cancel_stops_queued_jobs_and_packages_the_rest(rig):
    prompts = [f"fox number {i}" for i in range(5)]
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake(prompts), BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 3)  # basic plan: 3 slots

    assert await rig.engine.cancel_batch(batch_id, rig.user_id + 1) is False
    assert await rig.engine.cancel_batch(batch_id, rig.user_id) is True
    statuses = [job.status for job in await jobs_of(rig.engine, batch_id)]
    assert statuses.count(JobStatus.CANCELLED) == 2

    for prompt, nonce, _ in rig.relay.imagined:
        await run_to_grid(rig, prompt, nonce)
    result = await rig.engine.wait_finished(batch_id)

    assert result.status == BatchStatus.CANCELLED.value
    assert [job.status for job in await jobs_of(rig.engine, batch_id)].count(JobStatus.DONE) == 3
    assert len(rig.relay.imagined) == 3
    assert result.report_path is not None and result.report_path.exists()


async def test_create_batch_without_connection_is_rejected(rig):
    other_user = await rig.engine.ensure_user("111111111111111111")

    with pytest.raises(NoConnectionError, match="Connect a Midjourney account"):
        await rig.engine.create_batch(
            other_user, make_intake(["a fox"]), BatchOptions(), origin=BatchOrigin.DEMO
        )


async def test_unconfirmed_batch_waits_for_confirmation(rig):
    batch_id = await rig.engine.create_batch(
        rig.user_id,
        make_intake(["a red fox"]),
        BatchOptions(),
        origin=BatchOrigin.DISCORD,
        confirmed=False,
    )
    progress = await rig.engine.progress(batch_id)
    assert progress.status == BatchStatus.AWAITING_CONFIRMATION.value
    assert rig.relay.imagined == []

    await rig.engine.confirm_batch(batch_id)
    await wait_sent(rig, 1)

    active = await rig.engine.active_batches(rig.user_id)
    assert [p.batch_id for p in active] == [batch_id]
    assert active[0].running == 1


async def test_token_is_stored_encrypted(rig):
    async with rig.engine.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, rig.connection_id)
    assert b"user-token" not in connection.token_ciphertext
    assert rig.engine.cipher.decrypt(connection.token_ciphertext) == "user-token"
    assert "user-token" not in repr(rig.relay.config)


async def test_cancelled_batch_skips_upscales_of_running_job(rig):
    intake = make_intake(["a red fox"], upscales=(1,), upscales_set=True)
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.DEMO
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]

    assert await rig.engine.cancel_batch(batch_id, rig.user_id) is True
    await run_to_grid(rig, prompt, nonce)
    result = await rig.engine.wait_finished(batch_id)

    job = (await jobs_of(rig.engine, batch_id))[0]
    assert job.status == JobStatus.CANCELLED
    assert "grid was saved" in job.failure_message
    assert [image.kind for image in await images_of(rig.engine, job.id)] == [ImageKind.GRID]
    assert rig.relay.pressed == []
    assert result.status == BatchStatus.CANCELLED.value
