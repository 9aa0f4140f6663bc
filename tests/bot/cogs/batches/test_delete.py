"""``/batch delete`` against the sandbox: the question, the Delete button, the refusals."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.client import MidjauBot
from pipeline.engine import Engine
from pipeline.progress import BatchOptions
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.models import Batch, BatchOrigin, Job, JobStatus
from tests.bot.cogs.batches.test_retry import finished_batch
from tests.bot.conftest import buttons_of, by_bot
from tests.pipeline.engine_support import make_intake


async def test_delete_asks_then_deletes_finished_batch(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    batch_id = await finished_batch(engine, connected_user_id, [JobStatus.DONE, JobStatus.FAILED])

    await user.run_slash_command("batch delete", {"batch": batch_id})
    question = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )
    async with engine.db.sessions() as session:
        kept_before_click = await session.get(Batch, batch_id) is not None
    [button] = buttons_of(question)
    await user.click_button(question["id"], button["custom_id"])
    answer = await user.wait_for_message(
        lambda message: message["id"] == question["id"] and "is deleted" in message["content"],
        timeout=5,
    )

    assert question["content"].startswith(f"Delete batch {batch_id} for good?")
    assert question["flags"] & 64  # ephemeral: shown only to the user who asked
    assert button["label"] == f"Delete batch {batch_id}"
    assert kept_before_click
    assert answer["content"].startswith(f"Batch {batch_id} is deleted")
    assert not buttons_of(answer)
    async with engine.db.sessions() as session:
        assert await session.get(Batch, batch_id) is None
        jobs = await session.scalar(select(func.count()).where(Job.batch_id == batch_id))
    assert jobs == 0


async def test_delete_rejects_batch_not_finished(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    batch_id = await engine.create_batch(
        connected_user_id,
        make_intake(["a lighthouse"]),
        BatchOptions(),
        origin=BatchOrigin.DEMO,
        confirmed=False,
    )

    await user.run_slash_command("batch delete", {"batch": batch_id})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "never run" in message.get("content", "")), timeout=5
    )
    await user.run_slash_command("batch delete", {"batch": batch_id + 1000})
    unknown = await user.wait_for_message(
        by_bot(sandbox, lambda message: "not one of your batches" in message.get("content", "")),
        timeout=5,
    )

    assert reply["content"] == (
        f"Batch {batch_id} was never run: press Cancel on its reply to discard it."
    )
    assert not buttons_of(reply)
    assert unknown["content"].startswith(f"Batch {batch_id + 1000} is not one of your batches")
    async with engine.db.sessions() as session:
        assert await session.get(Batch, batch_id) is not None
