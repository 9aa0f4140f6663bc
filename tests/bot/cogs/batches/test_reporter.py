import logging
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete

from bot.client import MidjauBot
from pipeline.engine import Engine
from pipeline.intake.model import SheetIntake, SheetRow
from pipeline.progress import BatchOptions, BatchResult, BatchSummary
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.models import Batch, BatchOrigin, utcnow
from tests.bot.conftest import buttons_of, by_bot
from tests.pipeline.engine_support import wait_for

KIB = 1024


def two_row_intake() -> SheetIntake:
    rows = [
        SheetRow(number=2, values={"prompt": "a fox"}, status="accepted", prompts=("a fox",)),
        SheetRow(number=3, values={"prompt": "a boat"}, status="accepted", prompts=("a boat",)),
    ]
    return SheetIntake(filename="prompts.xlsx", sheet_name="Prompts", headers=["prompt"], rows=rows)


async def create_discord_batch(engine: Engine, sandbox: Sandbox, user_id: int) -> int:
    return await engine.create_batch(
        user_id,
        two_row_intake(),
        BatchOptions(),
        origin=BatchOrigin.DISCORD,
        discord_channel_id=sandbox.channel_id,
    )


def summary() -> BatchSummary:
    return BatchSummary(
        rows_total=2,
        rows_done=2,
        rows_failed=0,
        rows_skipped=0,
        rows_cancelled=0,
        jobs_total=2,
        images=8,
        elapsed_seconds=75,
    )


def make_zip(path: Path, size: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("images/row-2.bin", bytes(range(256)) * (size // 256))
    return path


async def test_progress_message_is_posted_then_edited(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    progress = await engine.progress(batch_id)

    await bot.reporter.on_batch_progress(progress)
    posted = await user.wait_for_message(
        by_bot(sandbox, lambda message: f"**Batch {batch_id}**" in message.get("content", "")),
        timeout=5,
    )
    assert "queued 2" in posted["content"]
    assert [button["label"] for button in buttons_of(posted)] == ["Cancel"]

    await bot.reporter.on_batch_progress(
        replace(progress, status="running", queued=0, done=1, running=1)
    )
    edited = await user.wait_for_message(
        lambda message: message["id"] == posted["id"] and "done 1" in message["content"],
        timeout=5,
    )
    assert "50 %" in edited["content"]
    assert (await engine.progress(batch_id)).progress_message_id == posted["id"]
    bot_messages = [
        message
        for message in user.messages.values()
        if f"**Batch {batch_id}**" in message.get("content", "")
    ]
    assert len(bot_messages) == 1


async def test_waiting_batch_gets_no_progress_message(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    progress = await engine.progress(batch_id)

    await bot.reporter.on_batch_progress(replace(progress, status="awaiting_confirmation"))
    await bot.reporter.on_batch_progress(replace(progress, batch_id=batch_id, status="queued"))
    await user.wait_for_message(
        by_bot(sandbox, lambda message: f"**Batch {batch_id}**" in message.get("content", "")),
        timeout=5,
    )

    contents = [message.get("content", "") for message in user.messages.values()]
    assert not any("awaiting confirmation" in content for content in contents)


async def test_results_are_posted_with_files(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
    tmp_path: Path,
) -> None:
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    report = tmp_path / "report.xlsx"
    report.write_bytes(b"report bytes")
    archive = make_zip(tmp_path / f"batch-{batch_id}.zip", 20 * KIB)
    result = BatchResult(
        batch_id=batch_id,
        status="done",
        summary=summary(),
        zip_paths=[archive],
        report_path=report,
        discord_channel_id=sandbox.channel_id,
    )

    await bot.reporter.on_batch_finished(result)
    posted = await user.wait_for_message(
        by_bot(sandbox, lambda message: "finished:" in message.get("content", "")), timeout=5
    )

    assert posted["content"].startswith(f"**Batch {batch_id} finished:** 2 of 2 rows done")
    files = {attachment["filename"]: attachment for attachment in posted["attachments"]}
    assert sorted(files) == sorted([report.name, archive.name])
    assert await user.download(files[archive.name]["url"]) == archive.read_bytes()
    assert await user.download(files[report.name]["url"]) == report.read_bytes()


async def test_results_of_deleted_batch_are_not_posted(
    bot: MidjauBot,
    sandbox: Sandbox,
    engine: Engine,
    connected_user_id: int,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    async with engine.db.sessions() as session, session.begin():
        await session.execute(delete(Batch).where(Batch.id == batch_id))
    result = BatchResult(
        batch_id=batch_id,
        status="done",
        summary=summary(),
        zip_paths=[tmp_path / f"batch-{batch_id}.zip"],
        report_path=tmp_path / "report.xlsx",
        discord_channel_id=sandbox.channel_id,
    )
    posts_before = len(sandbox.discord.messages.history(sandbox.channel_id, limit=100))

    skipped = f"batch {batch_id} was deleted before its results were posted"

    async def skip_logged() -> bool:
        return skipped in caplog.messages

    with caplog.at_level(logging.INFO, logger="bot.cogs.batches._reporter"):
        await bot.reporter.on_batch_finished(result)
        await wait_for(skip_logged)

    posts_after = len(sandbox.discord.messages.history(sandbox.channel_id, limit=100))
    assert posts_after == posts_before
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_results_over_limit_go_in_several_messages(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
    tmp_path: Path,
) -> None:
    bot.settings.discord.upload_limit_bytes = 64 * KIB
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    parts = [make_zip(tmp_path / f"batch-{batch_id}-part{n}.zip", 40 * KIB) for n in (1, 2)]
    result = BatchResult(
        batch_id=batch_id,
        status="done",
        summary=summary(),
        zip_paths=parts,
        discord_channel_id=sandbox.channel_id,
    )

    await bot.reporter.on_batch_finished(result)
    second = await user.wait_for_message(
        by_bot(sandbox, lambda message: "files part 2 of 2" in message.get("content", "")),
        timeout=5,
    )
    first = await user.wait_for_message(
        by_bot(sandbox, lambda message: "finished:" in message.get("content", "")), timeout=5
    )

    assert [attachment["filename"] for attachment in first["attachments"]] == [parts[0].name]
    assert [attachment["filename"] for attachment in second["attachments"]] == [parts[1].name]


async def test_results_over_limit_become_links_with_public_url(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
    tmp_path: Path,
) -> None:
    bot.settings.discord.upload_limit_bytes = 64 * KIB
    bot.settings.web.public_url = "https://midjau.example"
    batch_id = await create_discord_batch(engine, sandbox, connected_user_id)
    archive = make_zip(tmp_path / f"batch-{batch_id}.zip", 100 * KIB)
    result = BatchResult(
        batch_id=batch_id,
        status="done",
        summary=summary(),
        zip_paths=[archive],
        discord_channel_id=sandbox.channel_id,
        created_at=utcnow(),
    )

    await bot.reporter.on_batch_finished(result)
    posted = await user.wait_for_message(
        by_bot(sandbox, lambda message: "finished:" in message.get("content", "")), timeout=5
    )

    assert posted["attachments"] == []
    assert f"[{archive.name}](<https://midjau.example/downloads/" in posted["content"]
