"""Midjourney's concurrency replies: "Job queued" waits, "Queue full" goes back to our queue.

The connection has a Pro plan, so MidJAu sends up to 12 fast jobs at once, while the
simulated Midjourney runs fewer: it queues the rest, or turns them away when its own
queue is full too.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from midjourney.messages import MIDJOURNEY_BOT_ID
from pipeline.progress import BatchOptions
from storage.models import BatchOrigin, Job, JobStatus, MidjourneyConnection
from tests.faults.rig import Outcome, Product, sheet_bytes, start_product

pytestmark = pytest.mark.e2e

PROMPTS = ["a red fox", "a grey owl", "a koi pond", "a tall pine", "a blue kite", "a stone arch"]


def midjourney_embed_titles(product: Product) -> list[str]:
    """Return the titles of the embeds Midjourney posted in the prompts channel, oldest first."""
    stored = product.discord.messages.history(product.sandbox.channel_id, limit=10_000)
    return [
        str(embed.get("title"))
        for message in reversed(stored)
        if message.author_id == MIDJOURNEY_BOT_ID
        for embed in message.data.get("embeds") or ()
    ]


async def learned_job_limit(product: Product) -> int | None:
    async with product.service.engine.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, product.connection_id)
        assert connection is not None
        return connection.learned_job_limit


async def saw_job_queued_at_midjourney(product: Product, batch_id: int) -> bool:
    """Watch the batch's jobs until one waits without a progress message, or all end.

    A job in that state got "Job queued": it keeps its place at Midjourney, not failed.
    """
    async with asyncio.timeout(10):
        while True:
            async with product.service.engine.db.sessions() as session:
                jobs = list(await session.scalars(select(Job).where(Job.batch_id == batch_id)))
            if any(job.status == JobStatus.WAITING and not job.progress_message_id for job in jobs):
                return True
            if jobs and all(job.status.is_final for job in jobs):
                return False
            await asyncio.sleep(0.01)


def assert_all_done(outcome: Outcome, rows: int) -> None:
    assert [(line.row, line.status) for line in outcome.lines] == [
        (row, "done") for row in range(2, rows + 2)
    ]
    assert len(outcome.images()) == rows


async def test_queued_jobs_wait_and_finish(tmp_path: Path) -> None:
    async with start_product(tmp_path, plan="pro") as product:
        product.knobs.fast_slots = 1
        batch_id = await product.run_sheet(PROMPTS[:3])
        queued_seen = await saw_job_queued_at_midjourney(product, batch_id)
        outcome = await product.finish(batch_id)
        titles = midjourney_embed_titles(product)
        limit = await learned_job_limit(product)

    assert titles == ["Job queued", "Job queued"]
    assert queued_seen, "no job was seen waiting in Midjourney's queue"
    assert_all_done(outcome, 3)
    assert [line.attempts for line in outcome.lines] == [1, 1, 1]
    assert limit is None  # "Job queued" is no sign of a limit below the plan's


async def test_queue_full_retries_and_learns_limit(tmp_path: Path) -> None:
    async with start_product(tmp_path, plan="pro") as product:
        # Midjourney runs one job and queues one more: two accepted in flight.
        product.knobs.fast_slots = 1
        product.knobs.queue_size = 1
        batch_id = await product.run_sheet(PROMPTS)
        outcome = await product.finish(batch_id)
        rejected = midjourney_embed_titles(product).count("Queue full")
        limit = await learned_job_limit(product)

    assert rejected >= 1
    assert limit == 2
    assert_all_done(outcome, len(PROMPTS))
    attempts = [line.attempts or 0 for line in outcome.lines]
    assert sum(attempts) == len(PROMPTS) + rejected, "each 'Queue full' costs one more send"
    assert max(attempts) >= 2


async def test_learned_limit_holds_after_restart(tmp_path: Path) -> None:
    async with start_product(tmp_path, plan="pro") as product:
        product.knobs.fast_slots = 1
        product.knobs.queue_size = 1
        first = await product.run_sheet(PROMPTS[:4])
        await product.finish(first)
        assert await learned_job_limit(product) == 2
        rejected_before = midjourney_embed_titles(product).count("Queue full")

        # A restarted engine reads the limit from the connection, not from memory. The
        # second batch goes in through the engine, as the bot allows one run per 5 s.
        engine = product.service.engine
        await engine.stop()
        await engine.start()
        intake = await engine.read_sheet(sheet_bytes(PROMPTS), "again.xlsx")
        second = await engine.create_batch(
            product.user_id,
            intake,
            BatchOptions(),
            origin=BatchOrigin.API,
            connection_id=product.connection_id,
        )
        result = await asyncio.wait_for(engine.wait_finished(second), 60)
        async with engine.db.sessions() as session:
            jobs = list(await session.scalars(select(Job).where(Job.batch_id == second)))
        rejected_after = midjourney_embed_titles(product).count("Queue full")

    assert rejected_after == rejected_before, "MidJAu sent past the limit it had learned"
    assert result.summary.rows_done == len(PROMPTS)
    assert sorted((job.status, job.attempts) for job in jobs) == [(JobStatus.DONE, 1)] * len(
        PROMPTS
    )
