"""Helpers for the engine's tests: sheets, a local CDN server and a recording relay.

The recording relay replaces the user's Discord session only where a test is about
what the engine sends (slots, pacing, presses); the sandbox test runs the real relay.
"""

from __future__ import annotations

import asyncio
import io
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from midjau.settings import Settings
from midjourney.messages import ChannelEvent, ChannelMessage
from pipeline.connection_checks import CHECK_CONNECTION_ID
from pipeline.connections import RelayConfig
from pipeline.intake.model import SheetIntake, SheetRow

_nonces = itertools.count(1300000000000000000)


def png_bytes(
    width: int = 64, height: int = 64, colour: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    """Return a small PNG."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_intake(
    prompts: list[str],
    *,
    upscales: tuple[int, ...] = (),
    repeat: int = 1,
    upscales_set: bool = False,
    variations: tuple[int, ...] = (),
) -> SheetIntake:
    """Return a checked sheet with one accepted row per prompt."""
    rows = [
        SheetRow(
            number=index + 2,
            values={"prompt": prompt},
            status="accepted",
            prompts=(prompt,),
            repeat=repeat,
            upscales=upscales,
            upscales_set=upscales_set,
            variations=variations,
        )
        for index, prompt in enumerate(prompts)
    ]
    return SheetIntake(filename="prompts.xlsx", sheet_name="Prompts", headers=["prompt"], rows=rows)


def fast_settings(tmp_path: Any, **timeouts: float) -> Settings:
    """Return settings with no pacing gap and short timeouts, for fast tests."""
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]
    settings.pacing.min_gap_seconds = 0.0
    settings.pacing.jitter_seconds = 0.0
    settings.pacing.queue_full_backoff_seconds = 0.2
    for name, value in timeouts.items():
        setattr(settings.timeouts, name, value)
    return settings


@dataclass
class CdnServer:
    """A local CDN: serves files, fails on request, and expires links until refreshed."""

    files: dict[str, bytes] = field(default_factory=dict)
    failures_left: dict[str, int] = field(default_factory=dict)
    expired: set[str] = field(default_factory=set)
    requests: list[str] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/attachments/{name}", self._serve)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def add(self, name: str, data: bytes) -> str:
        """Serve ``data`` under ``name``; return its signed URL."""
        self.files[name] = data
        return f"{self.base_url}/attachments/{name}?ex=1&is=1&hm=old"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        self.requests.append(str(request.rel_url))
        if name in self.expired and request.query.get("hm") != "fresh":
            return web.Response(status=404)
        if self.failures_left.get(name, 0) > 0:
            self.failures_left[name] -= 1
            return web.Response(status=503)
        if name not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[name], content_type="image/png")


class RecordingRelay:
    """A relay that records what the engine sends and lets the test reply as Discord."""

    def __init__(self, config: RelayConfig | None = None, cdn: CdnServer | None = None) -> None:
        self.config = config
        self.cdn = cdn
        self.user_id = "402193844750254081"
        self.imagined: list[tuple[str, str, float]] = []
        self.pressed: list[tuple[str, str, str]] = []
        self.refreshed: list[str] = []
        self.history: list[ChannelMessage] = []
        self.imagine_error: Exception | None = None
        self.started = self.closed = False
        self.on_imagine: Callable[[str, str], Awaitable[None]] | None = None
        self.on_reidentified: Callable[[], Awaitable[None]] | None = None

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def imagine(self, prompt: str, *, nonce: str | None = None) -> str:
        if self.imagine_error is not None:
            raise self.imagine_error
        nonce = nonce or str(next(_nonces))
        self.imagined.append((prompt, nonce, asyncio.get_running_loop().time()))
        if self.on_imagine is not None:
            await self.on_imagine(prompt, nonce)
        return nonce

    async def press(
        self, message_id: str, custom_id: str, *, message_flags: int = 0, nonce: str | None = None
    ) -> str:
        nonce = nonce or str(next(_nonces))
        self.pressed.append((message_id, custom_id, nonce))
        return nonce

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]:
        self.refreshed.extend(urls)
        return {url: f"{url}?ex=2&is=2&hm=fresh" for url in urls}

    async def fetch_history(
        self, *, limit: int = 50, before: str | None = None, after: str | None = None
    ) -> list[ChannelMessage]:
        messages = [m for m in self.history if after is None or int(m.id) > int(after)]
        return sorted(messages, key=lambda m: int(m.id), reverse=True)[:limit]

    async def fetch_current_user(self) -> dict[str, Any]:
        return {"id": self.user_id, "username": "recorded"}

    async def fetch_channel(self) -> dict[str, Any]:
        assert self.config is not None
        return {"id": self.config.channel_id, "guild_id": self.config.guild_id, "type": 0}

    @property
    def checks_only(self) -> bool:
        """Whether the engine built this relay only to check an account before connecting it."""
        return self.config is not None and self.config.connection_id == CHECK_CONNECTION_ID

    async def emit(self, event: ChannelEvent) -> None:
        """Deliver an event on the user session, as the real relay does."""
        assert self.config is not None
        await self.config.on_event(event)


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Wait until ``predicate`` holds, checking every few milliseconds."""
    # Polling, because the conditions are database rows that no event announces.
    async with asyncio.timeout(within):
        while not await predicate():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
