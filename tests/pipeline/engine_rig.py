"""An engine wired to a recording relay and a local CDN, and helpers that reply as Midjourney."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import select

from midjourney.messages import EventSource, MessageCreated, MessageDeleted, MessageUpdated
from pipeline.connections import RelayConfig
from pipeline.engine import Engine
from pipeline.progress import BatchProgress, BatchResult
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher
from storage.db import Database
from storage.models import Image, Job
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_support import (
    CdnServer,
    RecordingRelay,
    fast_settings,
    png_bytes,
    wait_for,
)


@dataclass
class Rig:
    engine: Engine
    relay: RecordingRelay
    cdn: CdnServer
    user_id: int
    connection_id: int
    listener: RecordingListener


class RecordingListener:
    def __init__(self) -> None:
        self.progress: list[BatchProgress] = []
        self.finished: list[BatchResult] = []

    async def on_batch_progress(self, progress: BatchProgress) -> None:
        self.progress.append(progress)

    async def on_batch_finished(self, result: BatchResult) -> None:
        self.finished.append(result)


@asynccontextmanager
async def start_rig(
    db: Database, blobs: LocalBlobStore, tmp_path: Path, **timeouts: float
) -> AsyncIterator[Rig]:
    """Start an engine with a recording relay on a basic-plan connection, and a local CDN."""
    settings = fast_settings(tmp_path, **{"deleted_progress_grace": 0.2, **timeouts})
    cdn = CdnServer()
    await cdn.start()
    relays: list[RecordingRelay] = []

    def build_relay(config: RelayConfig) -> RecordingRelay:
        relay = RecordingRelay(config, cdn)
        if not relay.checks_only:
            relays.append(relay)
        return relay

    async with aiohttp.ClientSession() as http:
        engine = Engine(settings, db, blobs, http, TokenCipher(Fernet.generate_key()), build_relay)
        listener = RecordingListener()
        engine.add_listener(listener)
        await engine.start()
        user_id = await engine.ensure_user(mj.USER_ID, "demo")
        connection_id = await engine.add_connection(
            user_id,
            token="user-token",
            guild_id=mj.GUILD_ID,
            channel_id=mj.CHANNEL_ID,
            plan="basic",
        )
        try:
            yield Rig(engine, relays[0], cdn, user_id, connection_id, listener)
        finally:
            await engine.stop()
            await cdn.stop()


async def jobs_of(engine: Engine, batch_id: int) -> list[Job]:
    async with engine.db.sessions() as session:
        return list(
            await session.scalars(
                select(Job).where(Job.batch_id == batch_id).order_by(Job.sequence)
            )
        )


async def images_of(engine: Engine, job_id: str) -> list[Image]:
    async with engine.db.sessions() as session:
        return list(
            await session.scalars(
                select(Image).where(Image.job_id == job_id).order_by(Image.kind, Image.index)
            )
        )


async def wait_sent(rig: Rig, count: int) -> None:
    async def enough() -> bool:
        return len(rig.relay.imagined) >= count

    await wait_for(enough)


async def run_to_grid(rig: Rig, prompt: str, nonce: str, *, failed_downloads: int = 0) -> str:
    """Reply to one job as Midjourney does and return the grid message id.

    The CDN replies to the first ``failed_downloads`` requests for the grid with a 503, which
    delays storing it by the fetcher's retry delay.
    """
    job_uuid = mj.new_job_uuid()
    waiting = mj.waiting(prompt, nonce=nonce)
    await rig.engine.handle_channel_event(MessageCreated(waiting, EventSource.BOT))
    await rig.engine.handle_channel_event(
        MessageUpdated(mj.progress(prompt, waiting.id, 50, job_uuid), EventSource.BOT)
    )
    await rig.engine.handle_channel_event(
        MessageDeleted(waiting.id, mj.CHANNEL_ID, EventSource.BOT)
    )
    url = rig.cdn.add(f"{job_uuid}.png", png_bytes(64, 48))
    rig.cdn.failures_left[f"{job_uuid}.png"] = failed_downloads
    grid = mj.grid(prompt, job_uuid, url, width=64, height=48)
    await rig.engine.handle_channel_event(MessageCreated(grid, EventSource.BOT))
    return grid.id
