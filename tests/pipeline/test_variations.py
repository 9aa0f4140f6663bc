"""Variations (V1–V4) through the engine: pressed after the grid, tracked as renders, stored."""

from __future__ import annotations

from dataclasses import replace

from midjourney.messages import (
    EventSource,
    InteractionSucceeded,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
)
from pipeline.progress import BatchOptions
from pipeline.variations import VariationStatus, renders_of
from storage.models import BatchOrigin, BatchStatus, FailureCategory, ImageKind, Job, JobStatus
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import Rig, images_of, jobs_of, run_to_grid, start_rig, wait_sent
from tests.pipeline.engine_support import make_intake, png_bytes, wait_for

V = mj.VARIATIONS


async def send(rig: Rig, message, *, update: bool = False) -> None:
    event = MessageUpdated if update else MessageCreated
    await rig.engine.handle_channel_event(event(message, EventSource.BOT))


async def start_batch(rig: Rig, prompts: list[str], *, only_first: bool = False, **row) -> int:
    """Start a batch whose rows request ``row`` (upscales, variations).

    With ``only_first``, only the first row requests the variations.
    """
    intake = make_intake(prompts, **row)
    if only_first:
        intake.rows[1:] = [replace(plain, variations=()) for plain in intake.rows[1:]]
    return await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.DEMO
    )


async def wait_pressed(rig: Rig, count: int) -> None:
    async def enough() -> bool:
        return len(rig.relay.pressed) >= count

    await wait_for(enough)


async def job_row(rig: Rig, job_id: str) -> Job:
    job = await rig.engine.ledger.get(job_id)
    assert job is not None
    return job


async def test_variation_pressed_after_grid_then_tracked_and_stored(rig):
    batch_id = await start_batch(rig, ["a red fox"], variations=(2,))
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    grid_id = await run_to_grid(rig, prompt, nonce)

    await wait_pressed(rig, 1)
    message_id, custom_id, press_nonce = rig.relay.pressed[0]
    assert message_id == grid_id
    assert custom_id.startswith("MJ::JOB::variation::2::")
    (job,) = await jobs_of(rig.engine, batch_id)
    render = renders_of(job)[2]
    # The press's nonce was committed before the press, for a restart to find.
    assert render.nonce == press_nonce
    assert render.status == VariationStatus.SUBMITTED
    assert job.status == JobStatus.UPSCALING

    await rig.relay.emit(InteractionSucceeded("1250000000000000091", press_nonce))
    waiting = mj.waiting(prompt, nonce=press_nonce, action=V, reference_id=grid_id)
    await send(rig, waiting)
    render = renders_of(await job_row(rig, job.id))[2]
    assert render.interaction_id == "1250000000000000091"
    assert render.status == VariationStatus.WAITING
    assert render.progress_message_id == waiting.id

    variation_uuid = mj.new_job_uuid()
    await send(rig, mj.progress(prompt, waiting.id, 46, variation_uuid, action=V), update=True)
    render = renders_of(await job_row(rig, job.id))[2]
    assert render.status == VariationStatus.RUNNING
    assert render.midjourney_job_id == variation_uuid

    await rig.engine.handle_channel_event(
        MessageDeleted(waiting.id, mj.CHANNEL_ID, EventSource.BOT)
    )
    url = rig.cdn.add(f"{variation_uuid}.png", png_bytes(48, 48, (10, 120, 10)))
    final = mj.grid(prompt, variation_uuid, url, reference_id=waiting.id, action=V)
    await send(rig, final)
    result = await rig.engine.wait_finished(batch_id)

    assert result.status == BatchStatus.DONE.value
    job = await job_row(rig, job.id)
    assert job.status == JobStatus.DONE
    assert job.variations_pending == []
    images = {(image.kind, image.index): image for image in await images_of(rig.engine, job.id)}
    assert sorted(images) == [(ImageKind.GRID, 0), (ImageKind.VARIATION, 2)]
    variation = images[(ImageKind.VARIATION, 2)]
    assert variation.discord_message_id == final.id
    assert (variation.width, variation.height) == (64, 64)
    assert rig.engine.blobs.path(variation.blob_key).read_bytes() == png_bytes(
        48, 48, (10, 120, 10)
    )
    assert len(rig.relay.pressed) == 1


async def test_variation_2023_shape_matched_by_uuid(rig):
    batch_id = await start_batch(rig, ["a red fox"], variations=(1,))
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    grid_id = await run_to_grid(rig, prompt, nonce)
    await wait_pressed(rig, 1)
    _, _, press_nonce = rig.relay.pressed[0]

    # 2023: the waiting message has the nonce and no reference, the final has neither.
    waiting = mj.waiting(prompt, nonce=press_nonce, action=V)
    await send(rig, waiting)
    variation_uuid = mj.new_job_uuid()
    await send(rig, mj.progress(prompt, waiting.id, 60, variation_uuid, action=V), update=True)
    url = rig.cdn.add(f"{variation_uuid}.png", png_bytes())
    final = mj.grid(prompt, variation_uuid, url, action=V)
    await send(rig, final)
    await rig.engine.wait_finished(batch_id)

    (job,) = await jobs_of(rig.engine, batch_id)
    assert job.status == JobStatus.DONE
    kinds = [
        (image.kind, image.index, image.discord_message_id)
        for image in await images_of(rig.engine, job.id)
    ]
    assert kinds == [(ImageKind.GRID, 0, grid_id), (ImageKind.VARIATION, 1, final.id)]


async def test_variation_2023_shape_matched_by_prompt(rig):
    # Two rows with one prompt: the first requests V1, the second is still rendering.
    batch_id = await start_batch(rig, ["a red fox", "a red fox"], variations=(1,), only_first=True)
    await wait_sent(rig, 2)
    (prompt, first_nonce, _), (_, second_nonce, _) = rig.relay.imagined
    first_grid = await run_to_grid(rig, prompt, first_nonce)
    await send(rig, mj.waiting(prompt, nonce=second_nonce))
    await wait_pressed(rig, 1)
    _, _, press_nonce = rig.relay.pressed[0]
    await send(rig, mj.waiting(prompt, nonce=press_nonce, action=V))

    # No progress edits and no references: only the prompt and the action name the render.
    variation_url = rig.cdn.add("variation.png", png_bytes(32, 32))
    variation_final = mj.grid(prompt, mj.new_job_uuid(), variation_url, action=V)
    await send(rig, variation_final)
    imagine_url = rig.cdn.add("second.png", png_bytes(40, 40))
    imagine_final = mj.grid(prompt, mj.new_job_uuid(), imagine_url)
    await send(rig, imagine_final)
    await rig.engine.wait_finished(batch_id)

    first, second = await jobs_of(rig.engine, batch_id)
    assert first.grid_message_id == first_grid
    assert second.grid_message_id == imagine_final.id
    first_images = [(i.kind, i.discord_message_id) for i in await images_of(rig.engine, first.id)]
    assert first_images == [(ImageKind.GRID, first_grid), (ImageKind.VARIATION, variation_final.id)]
    second_images = [(i.kind, i.discord_message_id) for i in await images_of(rig.engine, second.id)]
    assert (ImageKind.VARIATION, variation_final.id) not in second_images
    assert first.status == second.status == JobStatus.DONE


async def test_identical_prompts_with_variations_in_flight(rig):
    batch_id = await start_batch(rig, ["a red fox", "a red fox"], variations=(1,))
    await wait_sent(rig, 2)
    (prompt, first_nonce, _), (_, second_nonce, _) = rig.relay.imagined
    first_grid = await run_to_grid(rig, prompt, first_nonce)
    await wait_pressed(rig, 1)
    second_grid = await run_to_grid(rig, prompt, second_nonce)
    await wait_pressed(rig, 2)
    presses = {message_id: nonce for message_id, _, nonce in rig.relay.pressed}

    # Both renders start, then their progress edits and finals interleave in reverse.
    first_waiting = mj.waiting(prompt, nonce=presses[first_grid], action=V, reference_id=first_grid)
    second_waiting = mj.waiting(
        prompt, nonce=presses[second_grid], action=V, reference_id=second_grid
    )
    await send(rig, first_waiting)
    await send(rig, second_waiting)
    first_uuid, second_uuid = mj.new_job_uuid(), mj.new_job_uuid()
    await send(rig, mj.progress(prompt, second_waiting.id, 50, second_uuid, action=V), update=True)
    await send(rig, mj.progress(prompt, first_waiting.id, 50, first_uuid, action=V), update=True)
    second_final = mj.grid(prompt, second_uuid, rig.cdn.add("v-second.png", png_bytes()), action=V)
    first_final = mj.grid(prompt, first_uuid, rig.cdn.add("v-first.png", png_bytes()), action=V)
    await send(rig, second_final)
    await send(rig, first_final)
    await rig.engine.wait_finished(batch_id)

    first, second = await jobs_of(rig.engine, batch_id)
    for job, grid_id, final in (
        (first, first_grid, first_final),
        (second, second_grid, second_final),
    ):
        assert job.status == JobStatus.DONE
        assert job.grid_message_id == grid_id
        images = [
            (i.kind, i.index, i.discord_message_id) for i in await images_of(rig.engine, job.id)
        ]
        assert images == [(ImageKind.GRID, 0, grid_id), (ImageKind.VARIATION, 1, final.id)]


async def test_failed_variation_fails_job(rig):
    batch_id = await start_batch(
        rig, ["a red fox"], upscales=(1,), upscales_set=True, variations=(3,)
    )
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    grid_id = await run_to_grid(rig, prompt, nonce)
    await wait_pressed(rig, 2)
    presses = {
        custom_id.split("::")[2]: press_nonce for _, custom_id, press_nonce in rig.relay.pressed
    }

    upscale_url = rig.cdn.add("upscale.png", png_bytes(32, 32))
    await send(rig, mj.upscale(prompt, 1, grid_id, upscale_url))
    waiting = mj.waiting(prompt, nonce=presses["variation"], action=V, reference_id=grid_id)
    await send(rig, waiting)
    error = mj.embed_reply(
        "Could not complete",
        "Sorry! Could not complete the job.",
        prompt,
        nonce=None,
        color=16776960,
        reference_id=waiting.id,
    )
    await send(rig, error)
    result = await rig.engine.wait_finished(batch_id)

    (job,) = await jobs_of(rig.engine, batch_id)
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.MIDJOURNEY_ERROR
    assert "V3 missing" in job.failure_message
    assert "Could not complete" in job.failure_message
    assert job.failure_message.endswith("The grid and U1 were saved.")
    kinds = [(image.kind, image.index) for image in await images_of(rig.engine, job.id)]
    assert kinds == [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 1)]
    assert result.status == BatchStatus.DONE.value


async def test_variation_deleted_mid_render_is_moderated(rig):
    batch_id = await start_batch(rig, ["a red fox"], variations=(1,))
    await wait_sent(rig, 1)
    prompt, nonce, _ = rig.relay.imagined[0]
    grid_id = await run_to_grid(rig, prompt, nonce)
    await wait_pressed(rig, 1)
    _, _, press_nonce = rig.relay.pressed[0]
    waiting = mj.waiting(prompt, nonce=press_nonce, action=V, reference_id=grid_id)
    await send(rig, waiting)
    await send(rig, mj.progress(prompt, waiting.id, 93, mj.new_job_uuid(), action=V), update=True)

    await rig.engine.handle_channel_event(
        MessageDeleted(waiting.id, mj.CHANNEL_ID, EventSource.BOT)
    )
    await rig.engine.wait_finished(batch_id)

    (job,) = await jobs_of(rig.engine, batch_id)
    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.MODERATED
    assert job.failure_message.startswith("V1 missing: Midjourney deleted the progress message")
    assert job.failure_message.endswith("The grid was saved.")


async def test_variation_waits_for_a_free_slot(rig):
    # Basic plan: 3 slots. The fox's variation must wait while three prompts render.
    prompts = ["a red fox", "a blue whale", "an old oak", "a paper boat", "a green kite"]
    batch_id = await start_batch(rig, prompts[:1], variations=(1,))
    await start_batch(rig, prompts[1:])
    await wait_sent(rig, 3)
    fox, fox_nonce, _ = rig.relay.imagined[0]
    # The first download of the grid fails, so the fox's slot goes to the next prompt
    # before the variation is queued.
    await run_to_grid(rig, fox, fox_nonce, failed_downloads=1)
    await wait_sent(rig, 4)

    (job,) = await jobs_of(rig.engine, batch_id)

    async def queued() -> bool:
        renders = renders_of(await job_row(rig, job.id))
        return 1 in renders and renders[1].status == VariationStatus.QUEUED

    await wait_for(queued)
    assert rig.relay.pressed == []

    whale, whale_nonce, _ = rig.relay.imagined[1]
    await run_to_grid(rig, whale, whale_nonce)
    await wait_pressed(rig, 1)
    assert rig.relay.pressed[0][1].startswith("MJ::JOB::variation::1::")
    # The freed slot went to the variation before the queued kite.
    assert [prompt for prompt, _, _ in rig.relay.imagined] == prompts[:4]
    render = renders_of(await job_row(rig, job.id))[1]
    assert render.status == VariationStatus.SUBMITTED


async def test_cancel_drops_variation_not_yet_pressed(rig):
    prompts = ["a red fox", "a blue whale", "an old oak", "a paper boat"]
    batch_id = await start_batch(rig, prompts, variations=(1,), only_first=True)
    await wait_sent(rig, 3)
    fox, fox_nonce, _ = rig.relay.imagined[0]
    # A failed first download lets the fox's slot go to the next prompt first.
    await run_to_grid(rig, fox, fox_nonce, failed_downloads=1)
    await wait_sent(rig, 4)
    fox_job = (await jobs_of(rig.engine, batch_id))[0]

    async def queued() -> bool:
        return 1 in renders_of(await job_row(rig, fox_job.id))

    await wait_for(queued)

    assert await rig.engine.cancel_batch(batch_id, rig.user_id) is True
    for prompt, nonce, _ in rig.relay.imagined[1:]:
        await run_to_grid(rig, prompt, nonce)
    result = await rig.engine.wait_finished(batch_id)

    fox_job = await job_row(rig, fox_job.id)
    assert fox_job.status == JobStatus.CANCELLED
    assert fox_job.failure_category is None
    assert fox_job.failure_message == (
        "V1 missing: the batch was cancelled before its button was pressed. The grid was saved."
    )
    assert rig.relay.pressed == []
    assert result.status == BatchStatus.CANCELLED.value


async def test_unanswered_variation_times_out(db, blobs, tmp_path):
    async with start_rig(db, blobs, tmp_path, waiting_message=0.3) as rig:
        batch_id = await start_batch(rig, ["a red fox"], variations=(4,))
        await wait_sent(rig, 1)
        prompt, nonce, _ = rig.relay.imagined[0]
        await run_to_grid(rig, prompt, nonce)
        await wait_pressed(rig, 1)
        _, _, press_nonce = rig.relay.pressed[0]
        # Discord acknowledged the press, so it is not pressed again; Midjourney never replies.
        await rig.relay.emit(InteractionSucceeded("1250000000000000093", press_nonce))

        await rig.engine.wait_finished(batch_id)

        (job,) = await jobs_of(rig.engine, batch_id)
        assert job.status == JobStatus.FAILED
        assert job.failure_category == FailureCategory.TIMED_OUT
        assert job.failure_message == (
            "V4 missing: Midjourney sent no reply within 0.3 s. The grid was saved."
        )
        assert len(rig.relay.pressed) == 1
