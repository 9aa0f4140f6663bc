"""The timeout sweep: a render held at "Waiting to start" waits longer in relax mode."""

from __future__ import annotations

from pathlib import Path

from midjourney.messages import EventSource, MessageCreated
from pipeline.progress import BatchOptions
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import BatchOrigin, FailureCategory, Job, JobStatus
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import Rig, jobs_of, start_rig, wait_sent
from tests.pipeline.engine_support import make_intake, wait_for

TIMEOUTS = {"progress": 0.3, "relax_progress": 30.0}


async def hold_at_waiting_to_start(rig: Rig, prompt: str, mode: str) -> int:
    """Run a one-row batch in ``mode`` that Midjourney answers only with "Waiting to start"."""
    batch_id = await rig.engine.create_batch(
        rig.user_id, make_intake([prompt]), BatchOptions(mode=mode), origin=BatchOrigin.DEMO
    )
    sent = len(rig.relay.imagined) + 1
    await wait_sent(rig, sent)
    sent_prompt, nonce, _ = rig.relay.imagined[sent - 1]
    waiting = mj.waiting(sent_prompt, nonce=nonce)
    await rig.engine.handle_channel_event(MessageCreated(waiting, EventSource.BOT))
    return batch_id


async def only_job(rig: Rig, batch_id: int) -> Job:
    [job] = await jobs_of(rig.engine, batch_id)
    return job


async def test_relax_job_outlasts_the_fast_progress_timeout(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    async with start_rig(db, blobs, tmp_path, **TIMEOUTS) as rig:
        relax_batch = await hold_at_waiting_to_start(rig, "a slow tortoise", "relax")
        fast_batch = await hold_at_waiting_to_start(rig, "a quick hare", "fast")

        async def fast_job_failed() -> bool:
            return (await only_job(rig, fast_batch)).status == JobStatus.FAILED

        await wait_for(fast_job_failed)
        fast_job = await only_job(rig, fast_batch)
        relax_job = await only_job(rig, relax_batch)

    assert fast_job.failure_category == FailureCategory.TIMED_OUT
    assert fast_job.failure_message == "Midjourney sent no start of the render within 0.3 s."
    assert relax_job.mode == "relax"
    assert relax_job.status == JobStatus.WAITING
    assert relax_job.progress_message_id is not None


async def test_relax_job_fails_after_relax_progress_timeout(
    db: Database, blobs: LocalBlobStore, tmp_path: Path
) -> None:
    timeouts = TIMEOUTS | {"relax_progress": 0.5}
    async with start_rig(db, blobs, tmp_path, **timeouts) as rig:
        batch_id = await hold_at_waiting_to_start(rig, "a slow tortoise", "relax")

        async def job_failed() -> bool:
            return (await only_job(rig, batch_id)).status == JobStatus.FAILED

        await wait_for(job_failed)
        job = await only_job(rig, batch_id)

    assert job.failure_category == FailureCategory.TIMED_OUT
    assert job.failure_message == "Midjourney sent no start of the render within 0.5 s."
