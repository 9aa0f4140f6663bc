"""The whole product on the sandbox, for tests that inject Midjourney and Discord faults.

A ``Product`` is the sandbox (Discord + simulated Midjourney), the MidJAu service on it
(the real discord.py bot, relay and engine, on SQLite in a temporary folder) and the
sandbox user, who runs ``/batch run`` with a sheet and presses Run as a person would.
Tests switch faults on through ``product.knobs`` (the simulated Midjourney) and
``product.discord`` (the sandbox Discord), then read the report the bot posts.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from midjau.demo import RUN_BUTTON_PREFIX, _find_button, _is_batch_reply, _is_result_post
from midjau.service import Service
from midjau.settings import DiscordSettings, PacingSettings, SandboxSettings, Settings
from pipeline.progress import BatchResult
from sandbox.actor import SandboxUser
from sandbox.discord.state import SandboxDiscord
from sandbox.midjourney.knobs import MidjourneyKnobs
from sandbox.server import Sandbox

# Bounds for one step on the sandbox; a stuck step fails the test with a clear message.
REPLY_TIMEOUT = 30.0
BATCH_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One line of the report's Jobs sheet, by column name."""

    values: Mapping[str, Any]

    @property
    def row(self) -> int:
        return int(self.values["row"])

    @property
    def status(self) -> str:
        return str(self.values["status"])

    @property
    def category(self) -> str:
        return str(self.values["failure category"] or "")

    @property
    def message(self) -> str:
        return str(self.values["failure message"] or "")

    @property
    def attempts(self) -> int | None:
        value = self.values["attempts"]
        return None if value in (None, "") else int(value)

    @property
    def files(self) -> list[str]:
        cell = str(self.values["image files"] or "")
        return [name.strip() for name in cell.split(",") if name.strip()]


@dataclass(slots=True)
class Outcome:
    """A finished batch as the user receives it in Discord: the ZIP and the report."""

    batch_id: int
    result: BatchResult | None  # None when read from outside the service's process
    lines: list[ReportLine]
    zip_names: list[str]
    sheets: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    def lines_of(self, row: int) -> list[ReportLine]:
        """Return the report lines of a sheet row (its number in the sheet, header = 1)."""
        return [line for line in self.lines if line.row == row]

    def images(self) -> list[str]:
        return sorted(name for name in self.zip_names if name.endswith(".png"))


@dataclass
class Product:
    """The running sandbox, MidJAu service and sandbox user."""

    sandbox: Sandbox
    service: Service
    user: SandboxUser
    user_id: int
    connection_id: int

    @property
    def knobs(self) -> MidjourneyKnobs:
        """The simulated Midjourney's switches; changes apply to the next interaction."""
        simulator = self.sandbox.midjourney
        assert simulator is not None, "the sandbox runs without its simulated Midjourney"
        knobs: MidjourneyKnobs = simulator.knobs
        return knobs

    @property
    def discord(self) -> SandboxDiscord:
        """The sandbox Discord: gateway faults, rate limits, stored messages."""
        return self.sandbox.discord

    async def run_sheet(
        self,
        prompts: Sequence[str | Mapping[str, Any]],
        *,
        upscale: str = "none",
        filename: str = "faults.xlsx",
    ) -> int:
        """Run ``/batch run`` with a sheet of these rows, press Run, return the batch id.

        A row is a prompt, or a mapping of column name to cell value with a "prompt" key.
        Sheet row 2 is the first prompt.
        """
        data = await asyncio.to_thread(sheet_bytes, prompts)
        known = {
            progress.batch_id for progress in await self.service.engine.active_batches(self.user_id)
        }
        await send_sheet(self.user, self.sandbox, filename, data, upscale=upscale)
        return await self._new_batch(known)

    async def finish(self, batch_id: int, within: float = BATCH_TIMEOUT) -> Outcome:
        """Wait for the batch to finish; return the ZIP entries and report the bot posted."""
        try:
            result = await asyncio.wait_for(self.service.engine.wait_finished(batch_id), within)
        except TimeoutError:
            progress = await self.service.engine.progress(batch_id)
            raise AssertionError(
                f"batch {batch_id} did not finish within {within:.0f} s: {progress}"
            ) from None
        post = await self.user.wait_for_message(
            _is_result_post(self.sandbox, batch_id), timeout=REPLY_TIMEOUT
        )
        files: dict[str, bytes] = {}
        for attachment in post.get("attachments") or ():
            files[str(attachment["filename"])] = await self.user.download(str(attachment["url"]))
        return await asyncio.to_thread(read_outcome, batch_id, result, files)

    def bot_messages(
        self, predicate: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Return the bot's messages in the prompts channel (oldest first) that match."""
        stored = self.discord.messages.history(self.sandbox.channel_id, limit=10_000)
        rendered = [self.discord.render(message) for message in reversed(stored)]
        return [
            message
            for message in rendered
            if str((message.get("author") or {}).get("id")) == self.sandbox.bot_user_id
            and (predicate is None or predicate(message))
        ]

    async def _new_batch(self, known: set[int]) -> int:
        async with asyncio.timeout(REPLY_TIMEOUT):
            while True:
                for progress in await self.service.engine.active_batches(self.user_id):
                    if progress.batch_id not in known and progress.status != (
                        "awaiting_confirmation"
                    ):
                        return progress.batch_id
                await asyncio.sleep(0.05)


async def send_sheet(
    user: SandboxUser, sandbox: Sandbox, filename: str, data: bytes, *, upscale: str = "none"
) -> None:
    """Run ``/batch run`` as ``user`` with the sheet attached, and press Run if offered."""
    # The replies to earlier runs are still in the actor's view; only a new one counts.
    earlier = set(user.messages)
    is_reply = _is_batch_reply(sandbox)
    await user.run_slash_command(
        "batch run",
        {"upscale": upscale, "split_grids": False},
        attachments={"sheet": (filename, data)},
    )
    reply = await user.wait_for_message(
        lambda message: message["id"] not in earlier and is_reply(message),
        timeout=REPLY_TIMEOUT,
    )
    button = _find_button(reply, RUN_BUTTON_PREFIX)
    if button is not None:
        await user.click_button(reply["id"], button["custom_id"])


def sheet_bytes(prompts: Sequence[str | Mapping[str, Any]]) -> bytes:
    """Write the rows as an .xlsx sheet named "Prompts" and return its bytes."""
    rows = [{"prompt": row} if isinstance(row, str) else dict(row) for row in prompts]
    headers: list[str] = []
    for row in rows:
        headers += [name for name in row if name not in headers]
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Prompts"
    sheet.append(headers)
    for row in rows:
        sheet.append([row.get(name) for name in headers])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def read_outcome(batch_id: int, result: BatchResult | None, files: Mapping[str, bytes]) -> Outcome:
    """Read the posted ZIP and report into an Outcome."""
    zip_names: list[str] = []
    report: bytes | None = None
    for name, data in files.items():
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                zip_names += archive.namelist()
        elif name.endswith(".xlsx"):
            report = data
    assert report is not None, f"the bot posted no report for batch {batch_id}: {list(files)}"
    workbook = load_workbook(io.BytesIO(report), read_only=True)
    sheets = {ws.title: list(ws.iter_rows(values_only=True)) for ws in workbook.worksheets}
    jobs = sheets["Jobs"]
    header = [str(name) for name in jobs[0]]
    lines = [ReportLine(dict(zip(header, values, strict=False))) for values in jobs[1:]]
    return Outcome(batch_id, result, lines, zip_names, sheets)


def product_settings(data_dir: Path, sandbox: Sandbox, **overrides: Any) -> Settings:
    """Return MidJAu settings for the running sandbox, with a data folder of its own.

    ``overrides`` are top-level Settings fields; ``timeouts``, ``pacing`` and ``discord``
    may be dicts that update those sections.
    """
    base = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    discord = DiscordSettings.model_validate(
        base.discord.model_dump()
        | {
            "bot_token": sandbox.bot_token,
            "api_base": sandbox.api_base,
            "gateway_url": sandbox.gateway_url,
            "guild_ready_timeout": 0.05,
            "progress_edit_interval": 0.2,
            "watched_channel_ids": [],
        }
        | overrides.pop("discord", {})
    )
    pacing = PacingSettings.model_validate(
        base.pacing.model_dump()
        | {"min_gap_seconds": 0.0, "jitter_seconds": 0.0, "queue_full_backoff_seconds": 0.5}
        | overrides.pop("pacing", {})
    )
    timeouts = base.timeouts.model_validate(
        base.timeouts.model_dump() | overrides.pop("timeouts", {})
    )
    return base.model_copy(
        update={
            "database_url": f"sqlite+aiosqlite:///{data_dir / 'midjau.db'}",
            "blob_dir": data_dir / "blobs",
            "discord": discord,
            "pacing": pacing,
            "timeouts": timeouts,
            "sandbox": sandbox.settings,
        }
        | overrides
    )


@asynccontextmanager
async def start_product(
    tmp_path: Path,
    *,
    sandbox: SandboxSettings | None = None,
    plan: str = "pro",
    **overrides: Any,
) -> AsyncIterator[Product]:
    """Start the sandbox, the MidJAu service on it and the sandbox user; stop them after."""
    sandbox_settings = sandbox or SandboxSettings(time_scale=0.005, plan=plan)
    async with Sandbox(sandbox_settings) as running:
        settings = product_settings(tmp_path / "data", running, **overrides)
        async with Service(settings, with_web=False) as service:
            user_id = await service.engine.ensure_user(running.user_id, "Sandbox user")
            connection_id = await service.engine.add_connection(
                user_id,
                token=running.user_token,
                guild_id=running.guild_id,
                channel_id=running.channel_id,
                plan=plan,
                label="sandbox",
            )
            async with running.user() as user:
                yield Product(running, service, user, user_id, connection_id)
