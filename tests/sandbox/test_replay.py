"""Recorded Midjourney traffic replayed through the sandbox into the real engine and relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from midjau.settings import SandboxSettings
from midjourney.messages import MIDJOURNEY_BOT_ID
from pipeline.engine import Engine
from pipeline.progress import BatchOptions
from sandbox.replay import RecordingError, Replay, load_recording, parse_recording
from sandbox.server import Sandbox
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher
from storage.db import Database
from storage.models import BatchOrigin, FailureCategory, Image, ImageKind, Job, JobStatus
from tests.pipeline.engine_support import fast_settings, make_intake

# Recorded gaps of 30 s and more play in a fraction of a second.
TIME_SCALE = 0.01


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'midjau.db'}")
    await database.upgrade()
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(SandboxSettings(), midjourney=False) as running:
        yield running


@pytest.fixture
async def replay(sandbox: Sandbox) -> Replay:
    return Replay(sandbox, time_scale=TIME_SCALE, interaction_timeout=10.0)


@pytest.fixture
async def engine(sandbox, replay, db, tmp_path) -> AsyncIterator[Engine]:
    settings = fast_settings(tmp_path)
    settings.discord.api_base = sandbox.api_base
    settings.discord.gateway_url = sandbox.gateway_url
    blobs = LocalBlobStore(tmp_path / "blobs")
    async with aiohttp.ClientSession() as http:
        running = Engine(settings, db, blobs, http, TokenCipher(Fernet.generate_key()))
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


async def run_replayed(
    sandbox: Sandbox, engine: Engine, replay: Replay, name: str, prompt: str
) -> tuple[Job, list[Image]]:
    """Send one prompt through the engine while the recording answers it."""
    user_id = await engine.ensure_user(sandbox.user_id, "demo")
    await engine.add_connection(
        user_id,
        token=sandbox.user_token,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        plan="basic",
    )
    playing = asyncio.create_task(replay.play(load_recording(name)))
    batch_id = await engine.create_batch(
        user_id, make_intake([prompt]), BatchOptions(split_grids=False), origin=BatchOrigin.DEMO
    )
    await asyncio.wait_for(engine.wait_finished(batch_id), 20)
    await playing
    async with engine.db.sessions() as session:
        job = await session.scalar(select(Job).where(Job.batch_id == batch_id))
        assert job is not None, "the batch has no job"
        images = list(await session.scalars(select(Image).where(Image.job_id == job.id)))
    return job, images


@pytest.mark.parametrize(
    ("recording", "prompt", "size"),
    [
        ("imagine-2026.jsonl", "a lighthouse on a cliff at dawn", (1024, 1024)),
        ("imagine-2023.jsonl", "a red fox in the snow --ar 3:2", (1536, 1024)),
    ],
    ids=["2026-shape", "2023-shape"],
)
async def test_recorded_imagine_ends_done_with_grid(
    sandbox, engine, replay, recording, prompt, size
):
    job, images = await run_replayed(sandbox, engine, replay, recording, prompt)

    assert job.status == JobStatus.DONE
    # The recording's nonce was tied to the nonce the relay really sent.
    assert list(replay.nonces.values()) == [job.nonce]
    assert [(image.kind, image.index) for image in images] == [(ImageKind.GRID, 0)]
    grid = images[0]
    assert (grid.width, grid.height) == size
    assert engine.blobs.path(grid.blob_key).stat().st_size > 0
    # The grid message is the replayed final, not a recorded id.
    assert grid.discord_message_id == list(replay.message_ids.values())[-1]


async def test_recorded_invalid_parameter_fails_job_with_embed_text(sandbox, engine, replay):
    job, images = await run_replayed(
        sandbox, engine, replay, "invalid-parameter.jsonl", "a paper boat on a pond --tile --v 4"
    )

    assert job.status == JobStatus.FAILED
    assert job.failure_category == FailureCategory.INVALID
    assert "`--tile` is not compatible with `--version 4`" in job.failure_message
    assert images == []


async def test_recorded_mentions_and_references_point_at_sandbox(sandbox, replay):
    recording = load_recording("imagine-2026.jsonl")
    user = sandbox.user()
    async with user:
        playing = asyncio.create_task(replay.play(recording))
        await user.run_slash_command(
            "imagine",
            {"prompt": "a lighthouse on a cliff at dawn"},
            application_id=MIDJOURNEY_BOT_ID,
        )
        await playing
    final_id = replay.message_ids[recording.events[-1].data["id"]]
    final = sandbox.discord.get_message(sandbox.channel_id, final_id)

    assert final is not None
    assert f"<@{sandbox.user_id}>" in final["content"]
    assert final["guild_id"] == sandbox.guild_id
    waiting_id = replay.message_ids[recording.events[2].data["id"]]
    assert final["message_reference"]["message_id"] == waiting_id
    assert final["interaction_metadata"]["id"] in replay.interaction_ids.values()
    async with aiohttp.ClientSession() as http:
        async with http.get(final["attachments"][0]["url"]) as response:
            assert response.status == 200
            assert (await response.read()).startswith(b"\x89PNG")


def test_bad_recording_line_is_named():
    text = (
        '{"at": 0, "event": "MESSAGE_CREATE", "data": {"id": "1"}}\n{"at": 1, "event": "TYPING"}\n'
    )

    with pytest.raises(RecordingError, match=r"mine.jsonl, line 2: event 'TYPING'"):
        parse_recording(text, "mine.jsonl")


async def test_replay_refuses_sandbox_with_simulated_midjourney():
    async with Sandbox(SandboxSettings()) as running:
        with pytest.raises(RuntimeError, match="midjourney=False"):
            Replay(running)


def test_sandbox_command_rejects_bad_recording(tmp_path, capsys):
    from midjau.cli import main

    recording = tmp_path / "broken.jsonl"
    recording.write_text('{"at": "soon", "event": "MESSAGE_DELETE", "data": {"id": "1"}}\n')

    assert main(["sandbox", "--port", "0", "--replay", str(recording)]) == 2
    assert "broken.jsonl, line 1: 'at' must be seconds" in capsys.readouterr().err
