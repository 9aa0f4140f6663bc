"""``midjau demo``: run a sheet through the whole product against the offline sandbox.

The sandbox's simulated user runs ``/batch run`` with the sheet attached, exactly as a
person would in Discord. The real bot, relay and engine do the rest. The demo then
downloads the ZIP and the report that the bot posts, and prints a summary.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from midjau.service import Service
from midjau.settings import DiscordSettings, PacingSettings, Settings
from pipeline.progress import BatchProgress, BatchResult
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox

_log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".csv")
# Generous bounds for a demo sheet on the sandbox; a stuck step fails with this message.
REPLY_TIMEOUT = 60.0
BATCH_TIMEOUT = 900.0


class DemoError(Exception):
    """The demo could not run; the message explains why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """The finished demo batch, its counts and the files saved from Discord."""

    batch_id: int
    files: list[Path]
    progress: BatchProgress
    result: BatchResult
    elapsed_seconds: float


async def run_demo(
    settings: Settings, sheet: Path, out_dir: Path, *, time_scale: float | None = None
) -> int:
    """Run the demo and print its summary; return the exit status."""
    console = Console()
    if await asyncio.to_thread(sheet.is_dir):
        console.print(f"[red]{sheet} is a folder[/red]. Give the path of one sheet inside it.")
        return 2
    if not await asyncio.to_thread(sheet.is_file):
        console.print(
            f"[red]No such file: {sheet}[/red]. Give the path of an .xlsx, .xlsm or .csv sheet."
        )
        return 2
    if sheet.suffix.lower() not in SUPPORTED_SUFFIXES:
        console.print(
            f"[red]{sheet.name} is not a spreadsheet[/red]. Save it as .xlsx or .csv and try again."
        )
        return 2

    if await asyncio.to_thread(lambda: out_dir.exists() and not out_dir.is_dir()):
        console.print(f"[red]{out_dir} is a file[/red]. Give --out a folder name.")
        return 2

    try:
        outcome = await demo_sheet(settings, sheet, out_dir, time_scale=time_scale, console=console)
    except DemoError as error:
        console.print(f"[red]Demo failed:[/red] {error}")
        return 1
    _print_summary(console, outcome)
    return 0


async def demo_sheet(
    settings: Settings,
    sheet: Path,
    out_dir: Path,
    *,
    time_scale: float | None = None,
    console: Console | None = None,
) -> DemoOutcome:
    """Start the sandbox and MidJAu, run the sheet as the sandbox user, save the outputs."""
    console = console or Console(quiet=True)
    sandbox_settings = settings.sandbox
    if time_scale is not None:
        sandbox_settings = sandbox_settings.model_copy(update={"time_scale": time_scale})

    # The demo's database and blobs live in a throwaway folder; only out_dir is kept.
    data_dir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="midjau-demo-"))
    try:
        async with Sandbox(sandbox_settings) as sandbox:
            demo_settings = _settings_for_sandbox(settings, sandbox, data_dir)
            async with Service(demo_settings, with_web=False) as service:
                user_id = await service.engine.ensure_user(sandbox.user_id, "Sandbox user")
                await service.engine.add_connection(
                    user_id,
                    token=sandbox.user_token,
                    guild_id=sandbox.guild_id,
                    channel_id=sandbox.channel_id,
                    plan=sandbox_settings.plan,
                    label="sandbox",
                )
                return await _run_as_user(service, sandbox, user_id, sheet, out_dir, console)
    finally:
        await asyncio.to_thread(shutil.rmtree, data_dir, ignore_errors=True)


def _settings_for_sandbox(settings: Settings, sandbox: Sandbox, data_dir: Path) -> Settings:
    scale = sandbox.settings.time_scale
    discord = DiscordSettings.model_validate(
        settings.discord.model_dump()
        | {
            "bot_token": sandbox.bot_token,
            "api_base": sandbox.api_base,
            "gateway_url": sandbox.gateway_url,
            "guild_ready_timeout": 0.05,
            "progress_edit_interval": 1.0,
            "watched_channel_ids": [],
        }
    )
    # Human pacing, scaled down with the simulated Midjourney's clock.
    pacing = PacingSettings.model_validate(
        settings.pacing.model_dump()
        | {
            "min_gap_seconds": settings.pacing.min_gap_seconds * scale,
            "jitter_seconds": settings.pacing.jitter_seconds * scale,
        }
    )
    # model_copy, not a new Settings: that would read the environment and .env again.
    return settings.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": f"sqlite+aiosqlite:///{data_dir / 'midjau.db'}",
            "blob_dir": data_dir / "blobs",
            "discord": discord,
            "pacing": pacing,
        }
    )


async def _run_as_user(
    service: Service, sandbox: Sandbox, user_id: int, sheet: Path, out_dir: Path, console: Console
) -> DemoOutcome:
    started = time.monotonic()
    async with sandbox.user() as user:
        console.print(
            f"[bold]/batch run[/bold] sheet:{sheet.name}  (as the sandbox user in #prompts)"
        )
        await user.run_slash_command(
            "batch run",
            {"upscale": "none", "split_grids": False},
            attachments={"sheet": (sheet.name, await asyncio.to_thread(sheet.read_bytes))},
        )
        reply = await user.wait_for_message(_is_batch_reply(sandbox), timeout=REPLY_TIMEOUT)
        console.print(Markdown(str(reply["content"])))
        run_button = _find_button(reply, RUN_BUTTON_PREFIX)
        if run_button is not None:
            console.print(f"[bold]Pressing[/bold] “{run_button.get('label', 'Run')}”")
            await user.click_button(reply["id"], run_button["custom_id"])
        elif not await service.engine.active_batches(user_id):
            # The bot started nothing: the sheet could not be read or had no valid row.
            raise DemoError("the bot did not start a batch; its reply above gives the reason")

        batch_id = await _wait_for_batch(service, user_id)
        final, result = await _follow_progress(service, batch_id, console)
        result_message = await user.wait_for_message(
            _is_result_post(sandbox, batch_id), timeout=REPLY_TIMEOUT
        )
        files = await _save_attachments(user, result_message, out_dir)
    return DemoOutcome(batch_id, files, final, result, time.monotonic() - started)


# The bot's persistent buttons; a validation reply carries "run" when some rows are valid.
RUN_BUTTON_PREFIX = "midjau:batch:run:"


def _is_batch_reply(sandbox: Sandbox) -> Callable[[dict[str, Any]], bool]:
    """Match the bot's reply to /batch run: a validation summary or the start notice."""

    def predicate(message: dict[str, Any]) -> bool:
        author = message.get("author") or {}
        if str(author.get("id")) != sandbox.bot_user_id:
            return False
        flags = int(message.get("flags") or 0)
        # The reply is ephemeral; the channel's progress message is not.
        ephemeral = bool(flags & EPHEMERAL_FLAG)
        return bool(message.get("content")) and ephemeral and not flags & LOADING_FLAG

    return predicate


# Discord's flags of an ephemeral message, and of a deferred reply still "thinking…".
EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7


def _is_result_post(sandbox: Sandbox, batch_id: int) -> Callable[[dict[str, Any]], bool]:
    def predicate(message: dict[str, Any]) -> bool:
        author = message.get("author") or {}
        return (
            str(author.get("id")) == sandbox.bot_user_id
            and f"Batch {batch_id} " in str(message.get("content"))
            and any(
                str(a.get("filename", "")).endswith(".zip")
                for a in message.get("attachments") or ()
            )
        )

    return predicate


def _find_button(message: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    for row in message.get("components") or ():
        for component in row.get("components") or ():
            if str(component.get("custom_id", "")).startswith(prefix):
                return dict(component)
    return None


async def _wait_for_batch(service: Service, user_id: int) -> int:
    async with asyncio.timeout(REPLY_TIMEOUT):
        while True:
            batches = await service.engine.active_batches(user_id)
            running = [b for b in batches if b.status != "awaiting_confirmation"]
            if running:
                return running[0].batch_id
            await asyncio.sleep(0.1)


async def _follow_progress(
    service: Service, batch_id: int, console: Console
) -> tuple[BatchProgress, BatchResult]:
    finished = asyncio.create_task(service.engine.wait_finished(batch_id))
    columns = (
        TextColumn("[bold]batch {task.fields[batch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("batch", total=None, batch=batch_id, counts="")
        try:
            async with asyncio.timeout(BATCH_TIMEOUT):
                while not finished.done():
                    progress = await service.engine.progress(batch_id)
                    bar.update(
                        task,
                        total=progress.total,
                        completed=progress.finished,
                        counts=_counts(progress),
                    )
                    await asyncio.wait({finished}, timeout=0.25)
        except TimeoutError:
            finished.cancel()
            raise DemoError(
                f"batch {batch_id} did not finish within {BATCH_TIMEOUT:.0f} s"
            ) from None
        progress = await service.engine.progress(batch_id)
        bar.update(
            task, total=progress.total, completed=progress.finished, counts=_counts(progress)
        )
    return progress, await finished


def _counts(progress: BatchProgress) -> str:
    return (
        f"done {progress.done} · failed {progress.failed} · running {progress.running}"
        f" · queued {progress.queued}"
    )


async def _save_attachments(
    user: SandboxUser, message: dict[str, Any], out_dir: Path
) -> list[Path]:
    """Download the files the bot posted into ``out_dir``, keeping only their base names."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    saved: list[Path] = []
    for attachment in message.get("attachments") or ():
        # The name comes from the server: never let it choose a folder.
        name = Path(str(attachment["filename"])).name
        if not name or name in {".", ".."}:
            continue
        data = await user.download(str(attachment["url"]))
        target = await asyncio.to_thread(_unused_path, out_dir / name)
        await asyncio.to_thread(target.write_bytes, data)
        saved.append(target)
    return saved


def _unused_path(path: Path) -> Path:
    """Return ``path``, or ``name-2.ext``, ``name-3.ext``…, whichever does not exist yet.

    Every demo starts a new database, so its first batch is always batch 1; earlier
    outputs in the same folder are kept rather than overwritten.
    """
    candidate, number = path, 1
    while candidate.exists():
        number += 1
        candidate = path.with_name(f"{path.stem}-{number}{path.suffix}")
    return candidate


def _print_summary(console: Console, outcome: DemoOutcome) -> None:
    summary = outcome.result.summary
    console.print()
    console.print(
        f"[bold]Batch {outcome.batch_id} {outcome.result.status}[/bold]"
        f" in {outcome.elapsed_seconds:.1f} s"
    )
    console.print(
        f"  rows: {summary.rows_done} done, {summary.rows_failed} failed,"
        f" {summary.rows_skipped} skipped, {summary.rows_cancelled} cancelled"
        f" (of {summary.rows_total})"
    )
    console.print(f"  jobs: {summary.jobs_total}, images: {summary.images}")
    for path in outcome.files:
        console.print(f"  wrote {path}")
