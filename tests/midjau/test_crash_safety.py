"""Crash safety: ``midjau run`` is killed with SIGKILL three times during a batch.

The sandbox (Discord and the simulated Midjourney) runs in the test, and MidJAu runs as a
subprocess, as an operator starts it. The sandbox user runs a 20-row sheet with
``/batch run``. The service is killed after 2 jobs are done, between recording an upscale
press and sending it, and after 14 jobs are done, and it is started again each time.
The batch must still finish with every row done exactly once, every image in the ZIP
exactly once, no prompt sent to Midjourney more often than the report's attempts, and
each upscale button pressed once.

A kill can also land between committing a job as submitted and sending its prompt. The
restarted service sends such a prompt again once its "no waiting message" timeout passes
with no reply in the channel history; that timeout is short here so the test sees it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import sys
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from openpyxl import load_workbook

from midjau.demo import RUN_BUTTON_PREFIX, _find_button, _is_batch_reply, _is_result_post
from midjau.settings import SandboxSettings
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from tests.midjau.test_demo import SheetLine, expected_entries, write_sheet

pytestmark = pytest.mark.e2e

T = TypeVar("T")

# The second kill lands while MidJAu presses this row's U2 and U4: after it recorded U4 as
# pressed, before the press went out.
UPSCALE_KILL_PROMPT = "scene-07 "
# A simulated render takes job_seconds * time_scale = 1.2 s; 3 slots keep jobs in flight.
TIME_SCALE = 0.03
STEP_TIMEOUT = 30.0
# A batch takes about 15 s here (measured), so 30 s more after the last restart means a
# row is stuck.
RESULT_TIMEOUT = 30.0
# Seconds a job may wait for Midjourney's first reply; the sandbox replies within
# milliseconds, so only a prompt lost in a kill reaches this.
WAITING_MESSAGE_TIMEOUT = 3.0
APPLICATION_COMMAND = 2


def twenty_lines() -> list[SheetLine]:
    """Twenty rows with unique prompts, so each /imagine names its row; some upscale."""
    upscales = {3: [1], 7: [2, 4], 11: [3], 15: [1, 2, 3, 4], 18: [2]}
    lines = []
    for index in range(20):
        wanted = upscales.get(index, [])
        lines.append(
            SheetLine(
                f"scene-{index:02d} a quiet harbour at dawn",
                f"scene-{index:02d}",
                upscale=", ".join(f"U{n}" for n in wanted),
                upscales=wanted,
            )
        )
    return lines


async def test_batch_survives_sigkill_at_three_moments(tmp_path: Path) -> None:
    lines = twenty_lines()
    sheet = tmp_path / "crash.xlsx"
    write_sheet(sheet, lines)
    data_dir = tmp_path / "data"
    settings = SandboxSettings(time_scale=TIME_SCALE, plan="basic")

    async with Sandbox(settings) as sandbox:
        env = _service_env(sandbox, data_dir)
        await _connect(sandbox, env, tmp_path)
        service = await _start_service(sandbox, env, tmp_path, 0)
        try:
            async with sandbox.user() as user:
                await _start_batch(user, sandbox, sheet)
                batch_id = await _poll(lambda: _running_batch(data_dir), "a running batch")
                kill_points = (
                    lambda: _after_done_jobs(data_dir, batch_id, 2),
                    lambda: _when_press_claimed(data_dir, UPSCALE_KILL_PROMPT, 4),
                    lambda: _after_done_jobs(data_dir, batch_id, 14),
                )
                for number, kill_point in enumerate(kill_points, start=1):
                    await kill_point()
                    service.kill()
                    await service.wait()
                    service = await _start_service(sandbox, env, tmp_path, number)
                result = await user.wait_for_message(
                    _is_result_post(sandbox, batch_id), timeout=RESULT_TIMEOUT
                )
                history = await user.history(limit=100)
                posts = [m for m in history if _is_result_post(sandbox, batch_id)(m)]
                zip_bytes, report_bytes = await _download_outputs(user, result)
        finally:
            if service.returncode is None:
                service.send_signal(signal.SIGINT)
            await asyncio.wait_for(service.wait(), timeout=20)
        imagines = _imagines_per_prompt(sandbox)
        upscale_presses = _upscale_presses(sandbox)

    assert len(posts) == 1, "the bot posted the batch's result more than once"
    report = _report_lines(report_bytes)
    check_rows_finished_once(report, lines)
    check_zip(zip_bytes, lines)
    check_prompts_sent(report, lines, imagines)
    assert all(count == 1 for count in upscale_presses.values()), upscale_presses


def check_rows_finished_once(report: list[dict[str, Any]], lines: list[SheetLine]) -> None:
    rows = Counter(int(line["row"]) for line in report)
    assert rows == Counter(range(2, 2 + len(lines)))
    assert {line["status"] for line in report} == {"done"}


def check_zip(zip_bytes: bytes, lines: list[SheetLine]) -> None:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        names = [name for name in archive.namelist() if name.endswith(".png")]
    assert len(names) == len(set(names)), Counter(names).most_common(3)
    assert set(names) == expected_entries(lines)


def check_prompts_sent(
    report: list[dict[str, Any]], lines: list[SheetLine], imagines: Counter[str]
) -> None:
    """Check that no row's prompt reached Midjourney more often than its report attempts.

    An attempt committed just before a kill may never have reached Midjourney, so a row
    can report more attempts than Midjourney received, never fewer.
    """
    attempts = {int(line["row"]): int(line["attempts"] or 0) for line in report}
    sent = {
        number: sum(count for raw, count in imagines.items() if raw.startswith(f"{line.filename} "))
        for number, line in enumerate(lines, start=2)
    }
    assert all(count >= 1 for count in sent.values()), sent
    over = {row: (sent[row], attempts[row]) for row in sent if sent[row] > attempts[row]}
    assert not over, f"rows whose prompt was sent more often than reported: {over}"


def _service_env(sandbox: Sandbox, data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MIDJAU_")}
    return env | {
        "MIDJAU_DATA_DIR": str(data_dir),
        "MIDJAU_DISCORD__BOT_TOKEN": sandbox.bot_token,
        "MIDJAU_DISCORD__API_BASE": sandbox.api_base,
        "MIDJAU_DISCORD__GATEWAY_URL": sandbox.gateway_url,
        "MIDJAU_DISCORD__GUILD_READY_TIMEOUT": "0.05",
        "MIDJAU_DISCORD__PROGRESS_EDIT_INTERVAL": "0.5",
        "MIDJAU_PACING__MIN_GAP_SECONDS": "0.2",
        "MIDJAU_PACING__JITTER_SECONDS": "0.02",
        "MIDJAU_TIMEOUTS__WAITING_MESSAGE": str(WAITING_MESSAGE_TIMEOUT),
    }


async def _connect(sandbox: Sandbox, env: dict[str, str], cwd: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        *_midjau("connect", "--owner", sandbox.user_id, "--plan", "basic"),
        "--guild",
        sandbox.guild_id,
        "--channel",
        sandbox.channel_id,
        cwd=cwd,
        env=env | {"MIDJAU_CONNECT_TOKEN": sandbox.user_token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=STEP_TIMEOUT)
    assert process.returncode == 0, output.decode()


async def _start_service(
    sandbox: Sandbox, env: dict[str, str], cwd: Path, number: int
) -> asyncio.subprocess.Process:
    """Start ``midjau run``, logging to a file, and wait until its web app responds."""
    port = _free_port()
    log = await asyncio.to_thread((cwd / f"service-{number}.log").open, "wb")
    process = await asyncio.create_subprocess_exec(
        *_midjau("run"),
        cwd=cwd,
        env=env | {"MIDJAU_WEB__PORT": str(port)},
        stdout=log,
        stderr=asyncio.subprocess.STDOUT,
    )
    log.close()
    await _wait_for_health(f"http://127.0.0.1:{port}/health", process)
    return process


def _midjau(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "midjau.cli", *arguments]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _wait_for_health(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(STEP_TIMEOUT * 10)):
            assert process.returncode is None, "midjau run exited during start; see service-*.log"
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not respond within {STEP_TIMEOUT:.0f} s")


async def _start_batch(user: SandboxUser, sandbox: Sandbox, sheet: Path) -> None:
    await user.run_slash_command(
        "batch run",
        {"upscale": "none", "split_grids": False},
        attachments={"sheet": (sheet.name, await asyncio.to_thread(sheet.read_bytes))},
    )
    reply = await user.wait_for_message(_is_batch_reply(sandbox), timeout=STEP_TIMEOUT)
    # A sheet whose rows are all valid starts at once; otherwise the reply offers "Run".
    button = _find_button(reply, RUN_BUTTON_PREFIX)
    if button is not None:
        await user.click_button(reply["id"], button["custom_id"])


async def _poll(read: Callable[[], T | None], what: str, *, interval: float = 0.1) -> T:
    """Call ``read`` in a thread until it returns a value; fail after STEP_TIMEOUT."""
    for _ in range(int(STEP_TIMEOUT / interval)):
        value = await asyncio.to_thread(read)
        if value is not None:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"no {what} within {STEP_TIMEOUT:.0f} s")


def _query(data_dir: Path, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
    database = data_dir / "midjau.db"
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute(sql, parameters).fetchall()
    except sqlite3.OperationalError:
        return []  # the schema is not there yet, or the writer holds a lock
    finally:
        connection.close()


def _running_batch(data_dir: Path) -> int | None:
    rows = _query(data_dir, "select id from batches where status != 'awaiting_confirmation'")
    return int(rows[0][0]) if rows else None


async def _after_done_jobs(data_dir: Path, batch_id: int, count: int) -> None:
    await _poll(lambda: _done_jobs(data_dir, batch_id) >= count or None, f"{count} done jobs")


async def _when_press_claimed(data_dir: Path, prompt_start: str, index: int) -> None:
    """Return as soon as MidJAu has recorded U<index> of the prompt's job as pressed.

    The press itself follows after the pacing gap, so a kill now lands between the two.
    """

    def claimed() -> bool:
        rows = _query(
            data_dir, "select upscales_pressed from jobs where prompt like ?", f"{prompt_start}%"
        )
        return bool(rows) and index in json.loads(rows[0][0] or "[]")

    await _poll(lambda: claimed() or None, f"U{index} of {prompt_start!r} pressed", interval=0.005)


def _done_jobs(data_dir: Path, batch_id: int) -> int:
    rows = _query(
        data_dir, "select count(*) from jobs where batch_id = ? and status = 'done'", batch_id
    )
    return int(rows[0][0]) if rows else 0


async def _download_outputs(user: SandboxUser, message: dict[str, Any]) -> tuple[bytes, bytes]:
    attachments = {str(a["filename"]): str(a["url"]) for a in message["attachments"]}
    zips = [name for name in attachments if name.endswith(".zip")]
    reports = [name for name in attachments if name.endswith(".xlsx")]
    assert len(zips) == 1, sorted(attachments)
    assert len(reports) == 1, sorted(attachments)
    return await user.download(attachments[zips[0]]), await user.download(attachments[reports[0]])


def _report_lines(report_bytes: bytes) -> list[dict[str, Any]]:
    workbook = load_workbook(io.BytesIO(report_bytes))
    rows = list(workbook["Jobs"].iter_rows(values_only=True))
    header = [str(name) for name in rows[0]]
    # The sheet's own columns come first; the report's own ones follow under their names.
    return [dict(zip(header, values, strict=True)) for values in rows[1:]]


def _imagines_per_prompt(sandbox: Sandbox) -> Counter[str]:
    """Count the /imagine interactions the simulated Midjourney received, per raw prompt."""
    jobs = sandbox.midjourney.jobs.values()
    return Counter(
        job.prompt.raw for job in jobs if job.interaction.get("type") == APPLICATION_COMMAND
    )


def _upscale_presses(sandbox: Sandbox) -> Counter[tuple[str, int]]:
    """Count the U1–U4 presses per (grid job, index)."""
    return Counter((job.uuid, index) for job, index in sandbox.midjourney.singles.values())
