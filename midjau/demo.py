"""``midjau demo``: run a sheet through the whole product against the offline sandbox.

The sandbox's simulated user runs ``/batch run`` with the sheet attached, exactly as a
person would in Discord; the real bot, relay and engine do the rest; the demo downloads
the ZIP and the report the bot posts and prints a summary.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from midjau.service import Service
from midjau.settings import Settings
from pipeline.progress import BatchProgress
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox

_log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".csv")
# Generous bounds for a demo sheet on the sandbox; a stuck step fails with this message.
REPLY_TIMEOUT = 60.0
BATCH_TIMEOUT = 900.0


class DemoError(Exception):
    """The demo could not run; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """What the demo produced."""

    batch_id: int
    files: list[Path]
    progress: BatchProgress
    elapsed_seconds: float


async def run_demo(settings: Settings, sheet: Path, out_dir: Path, *, time_scale: float | None = None) -> int:
    """Run the demo and print its summary; return the exit status."""
    console = Console()
    if not sheet.is_file():
        console.print(f"[red]No such file: {sheet}[/red]. Give the path of an .xlsx, .xlsm or .csv sheet.")
        return 2
    if sheet.suffix.lower() not in SUPPORTED_SUFFIXES:
        console.print(f"[red]{sheet.name} is not a spreadsheet[/red]. Save it as .xlsx or .csv and try again.")
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

    with tempfile.TemporaryDirectory(prefix="midjau-demo-") as data_dir:
        async with Sandbox(sandbox_settings) as sandbox:
            demo_settings = _settings_for_sandbox(settings, sandbox, Path(data_dir))
            async with Service(demo_settings, with_web=False) as service:
                user_id = await service.engine.ensure_user(str(sandbox.user_id), "Sandbox user")
                await service.engine.add_connection(
                    user_id,
                    token=sandbox.user_token,
                    guild_id=str(sandbox.guild_id),
                    channel_id=str(sandbox.channel_id),
                    plan=sandbox_settings.plan,
                    label="sandbox",
                )
                return await _run_as_user(service, sandbox, user_id, sheet, out_dir, console)


def _settings_for_sandbox(settings: Settings, sandbox: Sandbox, data_dir: Path) -> Settings:
    scale = sandbox.settings.time_scale
    overrides: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": "",
        "blob_dir": None,
        "discord": settings.discord.model_copy(
            update={
                "bot_token": sandbox.bot_token,
                "api_base": sandbox.api_base,
                "gateway_url": sandbox.gateway_url,
                "guild_ready_timeout": 0.05,
                "progress_edit_interval": 1.0,
                "watched_channel_ids": [],
            }
        ),
        # Human pacing scaled down with the simulated Midjourney's clock.
        "pacing": settings.pacing.model_copy(
            update={
                "min_gap_seconds": settings.pacing.min_gap_seconds * scale,
                "jitter_seconds": settings.pacing.jitter_seconds * scale,
            }
        ),
    }
    return Settings.model_validate({**settings.model_dump(), **overrides})


async def _run_as_user(
    service: Service, sandbox: Sandbox, user_id: int, sheet: Path, out_dir: Path, console: Console
) -> DemoOutcome:
    started = time.monotonic()
    user: SandboxUser = sandbox.user()
    console.print(f"[bold]/batch run[/bold] sheet:{sheet.name} (as {sandbox.user_name} in #prompts)")
    await user.run_slash_command(
        "batch run", {"upscale": "none", "split_grids": False}, attachments={"sheet": (sheet.name, sheet.read_bytes())}
    )

    reply = await user.wait_for_message(_is_bot_reply(sandbox), timeout=REPLY_TIMEOUT)
    console.print(reply["content"])
    run_button = _find_button(reply, prefix="midjau:batch:run:")
    if run_button is not None:
        console.print(f"[bold]Pressing[/bold] “{run_button['label']}”")
        await user.click_button(reply["id"], run_button["custom_id"])

    batch_id = await _wait_for_batch(service, user_id)
    final = await _follow_progress(service, batch_id, console)
    files = await _download_results(user, sandbox, out_dir)
    return DemoOutcome(batch_id, files, final, time.monotonic() - started)
