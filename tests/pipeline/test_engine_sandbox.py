"""A small batch through the real relay and the simulated Midjourney of the sandbox."""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from midjau.settings import SandboxSettings
from pipeline.engine import Engine
from pipeline.ledger import JobChange
from pipeline.progress import BatchOptions
from pipeline.variations import renders_of
from sandbox.server import Sandbox
from storage.crypto import TokenCipher
from storage.models import (
    IN_FLIGHT_JOB_STATUSES,
    BatchOrigin,
    BatchStatus,
    FailureCategory,
    Image,
    ImageKind,
    Job,
    JobStatus,
)
from tests.pipeline.engine_support import fast_settings, make_intake


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    # One fast job takes 40 × 0.005 = 0.2 s.
    async with Sandbox(SandboxSettings(time_scale=0.005, job_seconds=40, plan="basic")) as running:
        running.midjourney.knobs.post_moderated_words = frozenset({"forbiddenfox"})
        yield running


@pytest.fixture
async def engine(sandbox, db, blobs, tmp_path) -> AsyncIterator[Engine]:
    settings = fast_settings(tmp_path, deleted_progress_grace=0.5)
    settings.discord.api_base = sandbox.api_base
    settings.discord.gateway_url = sandbox.gateway_url
    async with aiohttp.ClientSession() as http:
        running = Engine(settings, db, blobs, http, TokenCipher(Fernet.generate_key()))
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


async def test_batch_runs_through_sandbox(sandbox, engine):
    in_flight: set[str] = set()
    most_in_flight = 0

    def count_in_flight(change: JobChange) -> None:
        nonlocal most_in_flight
        if change.job.status in IN_FLIGHT_JOB_STATUSES:
            in_flight.add(change.job.id)
        else:
            in_flight.discard(change.job.id)
        most_in_flight = max(most_in_flight, len(in_flight))

    engine.ledger.subscribe(count_in_flight)
    user_id = await engine.ensure_user(sandbox.user_id, "demo")
    await engine.add_connection(
        user_id,
        token=sandbox.user_token,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        plan="basic",
    )
    intake = make_intake(
        ["a red fox in the snow --ar 3:2", "a lighthouse at dusk", "a forbiddenfox on a hill"],
        repeat=2,
    )
    intake.rows[1] = replace(intake.rows[1], upscales=(1, 3), upscales_set=True, repeat=1)

    batch_id = await engine.create_batch(
        user_id, intake, BatchOptions(split_grids=True), origin=BatchOrigin.DEMO
    )
    result = await engine.wait_finished(batch_id)

    assert result.status == BatchStatus.DONE.value
    assert most_in_flight == 3  # the basic plan's slots, used in full and never exceeded
    async with engine.db.sessions() as session:
        jobs = list(await session.scalars(select(Job).where(Job.batch_id == batch_id)))
        images = list(await session.scalars(select(Image)))
    by_prompt: dict[str, list[Job]] = {}
    for job in jobs:
        by_prompt.setdefault(job.prompt, []).append(job)

    for job in by_prompt["a red fox in the snow --ar 3:2"]:
        assert job.status == JobStatus.DONE
    lighthouse = by_prompt["a lighthouse at dusk"][0]
    assert lighthouse.status == JobStatus.DONE
    lighthouse_images = sorted((i.kind, i.index) for i in images if i.job_id == lighthouse.id)
    assert lighthouse_images == sorted(
        [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 1), (ImageKind.UPSCALE, 3)]
        + [(ImageKind.QUADRANT, i) for i in range(1, 5)]
    )
    for job in by_prompt["a forbiddenfox on a hill"]:
        assert job.status == JobStatus.FAILED
        assert job.failure_category == FailureCategory.MODERATED
    assert all(job.attempts == 1 for job in jobs)  # no prompt was sent twice
    assert result.zip_paths and result.zip_paths[0].exists()


@pytest.mark.parametrize("final_as_reply", [True, False], ids=["2026-shape", "2023-shape"])
async def test_variation_and_upscale_through_sandbox(sandbox, engine, final_as_reply):
    # 2026: a variation's final grid replies to its waiting message; 2023: it has no reference.
    sandbox.midjourney.knobs.final_as_reply = final_as_reply
    renders_in_flight: dict[str, int] = {}
    most_in_flight = 0

    def count_renders(change: JobChange) -> None:
        nonlocal most_in_flight
        job = change.job
        renders = sum(render.in_flight for render in renders_of(job).values())
        renders_in_flight[job.id] = 1 if job.status in IN_FLIGHT_JOB_STATUSES else renders
        most_in_flight = max(most_in_flight, sum(renders_in_flight.values()))

    engine.ledger.subscribe(count_renders)
    user_id = await engine.ensure_user(sandbox.user_id, "demo")
    await engine.add_connection(
        user_id,
        token=sandbox.user_token,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        plan="basic",
    )
    # Enough prompts that all slots are busy when the variation is queued.
    others = [f"a paper boat number {number}" for number in range(8)]
    intake = make_intake(["a lighthouse at dusk", *others])
    intake.rows[0] = replace(intake.rows[0], upscales=(2,), upscales_set=True, variations=(1,))

    batch_id = await engine.create_batch(
        user_id, intake, BatchOptions(split_grids=False), origin=BatchOrigin.DEMO
    )
    result = await engine.wait_finished(batch_id)

    assert result.status == BatchStatus.DONE.value
    # The variation renders in one of the basic plan's 3 slots, never a fourth.
    assert most_in_flight == 3
    async with engine.db.sessions() as session:
        jobs = {
            job.prompt: job
            for job in await session.scalars(select(Job).where(Job.batch_id == batch_id))
        }
        images = list(await session.scalars(select(Image)))
    lighthouse = jobs["a lighthouse at dusk"]
    assert lighthouse.status == JobStatus.DONE
    assert lighthouse.failure_message == ""
    assert lighthouse.variations_pending == []
    assert lighthouse.variation_renders == []
    stored = {(image.kind, image.index): image for image in images if image.job_id == lighthouse.id}
    assert sorted(stored) == sorted(
        [(ImageKind.GRID, 0), (ImageKind.UPSCALE, 2), (ImageKind.VARIATION, 1)]
    )
    grid, variation = stored[(ImageKind.GRID, 0)], stored[(ImageKind.VARIATION, 1)]
    # The variation is a new render of its own: another message and another job uuid.
    assert variation.discord_message_id != grid.discord_message_id
    assert variation.source_url != grid.source_url
    assert (variation.width, variation.height) == (grid.width, grid.height)
    assert (
        engine.blobs.path(variation.blob_key).read_bytes()
        != engine.blobs.path(grid.blob_key).read_bytes()
    )

    for prompt in others:
        job = jobs[prompt]
        assert job.status == JobStatus.DONE
        assert [(i.kind, i.index) for i in images if i.job_id == job.id] == [(ImageKind.GRID, 0)]
    assert all(job.attempts == 1 for job in jobs.values())
    with zipfile.ZipFile(result.zip_paths[0]) as archive:
        names = archive.namelist()
    assert any(name.endswith("_V1.png") for name in names)
    assert any(name.endswith("_U2.png") for name in names)
