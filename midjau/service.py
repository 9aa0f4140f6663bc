"""The MidJAu process: database, blob store, engine, Discord bot, web app and scheduler.

Parts start in dependency order and stop in reverse, all inside one lifecycle, so a
failure in one start step leaves nothing half-running. The steps that can fail because of
another process (the data folder's lock, the web port) come first, before anything talks
to Discord.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import time
from contextlib import AsyncExitStack
from pathlib import Path

import aiohttp
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.client import MidjauBot
from midjau.instance_lock import lock_data_dir
from midjau.settings import Settings
from pipeline.engine import Engine
from pipeline.retention import RetentionSweep, run_retention
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher, load_or_create_key
from storage.db import Database
from web.app import create_app
from web.auth import forget_expired_sessions

_log = logging.getLogger(__name__)

# Minutes between two retention runs; files go this long at most after they are due.
RETENTION_INTERVAL_MINUTES = 10

# How long start() waits for the bot's gateway session before it gives up.
BOT_READY_TIMEOUT = 60.0


class BotStartError(Exception):
    """The Discord bot could not log in or connect."""


class WebListenError(Exception):
    """The web site's address cannot be listened on (mostly: the port is in use)."""


class Service:
    """Run every part of MidJAu against the given settings."""

    def __init__(self, settings: Settings, *, with_web: bool = True) -> None:
        self.settings = settings
        self.with_web = with_web
        self._stack = AsyncExitStack()
        self.db: Database
        self.blobs: LocalBlobStore
        self.engine: Engine
        self.bot: MidjauBot | None = None
        self.secret: bytes = b""
        self.web_url: str | None = None

    async def __aenter__(self) -> Service:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the parts in order; stop() undoes whatever has started."""
        settings = self.settings
        # 0. What another process may hold: the data folder, then the web port.
        lock = await asyncio.to_thread(lock_data_dir, settings.data_dir)
        self._stack.callback(lock.release)
        listener = await self._listen() if self.with_web else None

        # 1. Storage: database schema first, so nothing reads an old schema.
        self.db, self.blobs, self.secret = await open_storage(settings)
        self._stack.push_async_callback(self.db.dispose)
        cipher = TokenCipher(self.secret)

        # 2. The engine, with the HTTP session the relay and the fetcher share.
        http = await self._stack.enter_async_context(aiohttp.ClientSession())
        self.engine = Engine(settings, self.db, self.blobs, http, cipher)

        # 3. The Discord bot before the engine starts work: batches that settled while the
        # process was down are packaged at engine start, and the bot must be listening to
        # post them.
        if settings.discord.bot_token is not None:
            await self._start_bot()
        else:
            _log.warning("no Discord bot token set (MIDJAU_DISCORD__BOT_TOKEN); the bot is off")
        await self.engine.start()
        self._stack.push_async_callback(self.engine.stop)

        # 4. The web app, on the address taken at step 0, and the scheduler.
        if listener is not None:
            await self._start_web(listener)
        self._start_scheduler()
        _log.info("MidJAu started (database %s)", self.db.engine.url.render_as_string())

    async def stop(self) -> None:
        """Stop everything that started, newest first."""
        await self._stack.aclose()
        _log.info("MidJAu stopped")

    async def run_forever(self) -> None:
        """Start, then run until cancelled (Ctrl+C) or the bot stops."""
        async with self:
            if self.bot is None:
                await asyncio.Event().wait()
            else:
                await self._bot_task

    async def _start_bot(self) -> None:
        token = self.settings.discord.bot_token
        assert token is not None
        bot = MidjauBot(self.settings, self.engine, download_secret=self.secret)
        self.bot = bot
        self._bot_task = asyncio.create_task(
            bot.start(token.get_secret_value()), name="discord-bot"
        )
        self._stack.push_async_callback(self._stop_bot)

        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._bot_task}, timeout=BOT_READY_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if self._bot_task.done() and self._bot_task.exception() is not None:
                raise BotStartError(f"the Discord bot stopped: {self._bot_task.exception()}")
            raise BotStartError(f"the Discord bot was not ready after {BOT_READY_TIMEOUT:.0f} s")
        _log.info("Discord bot ready as %s", bot.user)

    async def _stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._bot_task

    async def _listen(self) -> socket.socket:
        """Take the web address now; requests wait in its backlog until the app serves."""
        host, port = self.settings.web.host, self.settings.web.port
        try:
            listener = await asyncio.to_thread(_bind, host, port)
        except OSError as error:
            raise WebListenError(
                f"cannot serve the web site on {host}:{port}: {error.strerror or error}; "
                "stop what uses it, or set MIDJAU_WEB__HOST and MIDJAU_WEB__PORT"
            ) from None
        self._stack.callback(listener.close)
        return listener

    async def _start_web(self, listener: socket.socket) -> None:
        app = create_app(self.settings, self.db, self.secret, engine=self.engine, blobs=self.blobs)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.SockSite(runner, listener)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.web_url = f"http://{host}:{port}"
        _log.info("web app listening on %s", self.web_url)

    async def run_retention(self) -> RetentionSweep:
        """Delete the files of downloaded batches and of batches past the retention period."""
        return await run_retention(
            self.db,
            self.blobs,
            self.settings.data_dir / "outputs",
            retention_days=self.settings.output_retention_days,
        )

    async def forget_expired_sessions(self) -> int:
        """Delete the records of logged-out sessions whose cookies have all expired."""
        count = await forget_expired_sessions(self.db)
        if count:
            _log.info("deleted %d ended session(s) whose cookies have expired", count)
        return count

    def _start_scheduler(self) -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        scheduler.add_job(
            run_output_cleanup,
            "interval",
            hours=1,
            args=[self.settings.data_dir / "outputs", self.settings.output_retention_days],
            id="output-cleanup",
            coalesce=True,
        )
        scheduler.add_job(
            self.run_retention,
            "interval",
            minutes=RETENTION_INTERVAL_MINUTES,
            id="retention",
            coalesce=True,
            max_instances=1,
        )
        scheduler.add_job(
            self.forget_expired_sessions,
            "interval",
            hours=1,
            id="ended-sessions",
            coalesce=True,
            max_instances=1,
        )
        scheduler.start()
        self._stack.callback(scheduler.shutdown, wait=False)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    return socket.create_server((host, port), family=family)


async def open_storage(settings: Settings) -> tuple[Database, LocalBlobStore, bytes]:
    """Open the migrated database, the blob store and the token encryption key."""
    await asyncio.to_thread(settings.data_dir.mkdir, parents=True, exist_ok=True)
    # Engine creation resolves the SQLite path on disk, so it runs off the event loop.
    db = await asyncio.to_thread(Database, settings.database_url)
    try:
        await db.upgrade()
    except BaseException:
        await db.dispose()
        raise
    return db, LocalBlobStore(settings.blobs_path), await asyncio.to_thread(_token_key, settings)


def _token_key(settings: Settings) -> bytes:
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    return load_or_create_key(settings.data_dir / "secret.key")


async def run_output_cleanup(outputs_dir: Path, retention_days: float) -> int:
    """Delete batch output folders older than the retention period; return how many."""
    return await asyncio.to_thread(_delete_old_outputs, outputs_dir, retention_days)


def _delete_old_outputs(outputs_dir: Path, retention_days: float) -> int:
    if not outputs_dir.is_dir():
        return 0
    cutoff = time.time() - retention_days * 86400
    deleted = 0
    for folder in outputs_dir.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            deleted += 1
            _log.info(
                "deleted the outputs of batch %s after %.0f days", folder.name, retention_days
            )
    return deleted
