"""``/batch retry`` against the sandbox: the reply, and the batch it starts."""

from __future__ import annotations

from sqlalchemy import select, update

from bot.client import MidjauBot
from pipeline.engine import Engine
from pipeline.progress import BatchOptions
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.models import Batch, BatchOrigin, BatchStatus, Job, JobStatus, SheetRow, utcnow
from tests.bot.conftest import by_bot, store_other_connection
from tests.pipeline.engine_support import make_intake


async def finished_batch(engine: Engine, user_id: int, statuses: list[JobStatus]) -> int:
    """Store a batch of one job per status, ended with those statuses."""
    prompts = [f"a lighthouse number {index}" for index in range(len(statuses))]
    batch_id = await engine.create_batch(
        user_id, make_intake(prompts), BatchOptions(), origin=BatchOrigin.DEMO, confirmed=False
    )
    async with engine.db.sessions() as session:
        jobs = await session.scalars(
            select(Job).where(Job.batch_id == batch_id).order_by(Job.sequence)
        )
        for job, status in zip(jobs, statuses, strict=True):
            job.status = status
        await session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(status=BatchStatus.DONE, finished_at=utcnow())
        )
        await session.commit()
    return batch_id


async def test_retry_starts_batch_of_failed_rows(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    source_id = await finished_batch(
        engine, connected_user_id, [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED]
    )

    await user.run_slash_command("batch retry", {"batch": source_id})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "started with" in message.get("content", "")), timeout=5
    )

    [retry] = await engine.active_batches(connected_user_id)
    assert reply["content"].startswith(f"Batch {retry.batch_id} started with 2 jobs")
    assert f"rows of batch {source_id}" in reply["content"]
    assert reply["flags"] & 64  # ephemeral
    assert retry.status == "queued"
    assert retry.discord_channel_id == sandbox.channel_id
    async with engine.db.sessions() as session:
        rows = await session.scalars(
            select(SheetRow.row_number).where(SheetRow.batch_id == retry.batch_id)
        )
        assert sorted(rows) == [3, 4]


async def test_retry_defaults_to_latest_finished_batch(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    await finished_batch(engine, connected_user_id, [JobStatus.FAILED])
    latest = await finished_batch(engine, connected_user_id, [JobStatus.FAILED, JobStatus.FAILED])

    await user.run_slash_command("batch retry")
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "started with" in message.get("content", "")), timeout=5
    )

    assert "started with 2 jobs" in reply["content"]
    assert f"rows of batch {latest}" in reply["content"]


async def test_retry_with_nothing_failed_says_why(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    source_id = await finished_batch(engine, connected_user_id, [JobStatus.DONE])

    await user.run_slash_command("batch retry", {"batch": source_id})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "no failed or cancelled" in message.get("content", "")),
        timeout=5,
    )

    assert f"Batch {source_id} has no failed or cancelled rows" in reply["content"]
    assert reply["flags"] & 64  # ephemeral
    assert await engine.active_batches(connected_user_id) == []


async def test_retry_of_someone_elses_batch_is_rejected(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    stranger = await engine.ensure_user("555000555", "stranger")
    await store_other_connection(
        engine, stranger, guild_id="1180000000000000301", channel_id="1180000000000000302"
    )
    source_id = await finished_batch(engine, stranger, [JobStatus.FAILED])

    await user.run_slash_command("batch retry", {"batch": source_id})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "not one of your" in message.get("content", "")),
        timeout=5,
    )

    assert f"Batch {source_id} is not one of your finished batches" in reply["content"]
    assert reply["flags"] & 64  # ephemeral
    assert await engine.active_batches(stranger) == []
