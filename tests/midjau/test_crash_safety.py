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
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from midjau.demo import RUN_BUTTON_PREFIX, _find_button, _is_batch_reply, _is_result_post
from midjau.settings import SandboxSettings
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from tests.faults.service_process import STEP_TIMEOUT, ServiceProcess, poll
from tests.midjau.test_demo import SheetLine, expected_entries, write_sheet

pytestmark = pytest.mark.e2e

# The second kill lands while MidJAu presses this row's U2 and U4: after it recorded U4 as
# pressed, before the press went out.
UPSCALE_KILL_PROMPT = "scene-07 "
# A simulated render takes job_seconds * time_scale = 1.2 s; 3 slots keep jobs in flight.
TIME_SCALE = 0.03
# A batch takes about 15 s here (measured), so 30 s more after the last restart means a
# row is stuck.
RESULT_TIMEOUT = 30.0
# Seconds a job may wait for Midjourney's first reply; the sandbox replies within
# milliseconds, so only a prompt lost in a kill reaches this.
WAITING_MESSAGE_TIMEOUT = 3.0
APPLICATION_COMMAND = 2
# Settings of ``midjau run`` beyond the sandbox's addresses.
SERVICE_ENV = {
    "MIDJAU_PACING__MIN_GAP_SECONDS": "0.2",
    "MIDJAU_PACING__JITTER_SECONDS": "0.02",
    "MIDJAU_TIMEOUTS__WAITING_MESSAGE": str(WAITING_MESSAGE_TIMEOUT),
}


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
    settings = SandboxSettings(time_scale=TIME_SCALE, plan="basic")

    async with Sandbox(settings) as sandbox:
        service = ServiceProcess(sandbox, tmp_path, plan="basic", environment=SERVICE_ENV)
        await service.connect()
        await service.start()
        try:
            async with sandbox.user() as user:
                await _start_batch(user, sandbox, sheet)
                batch_id = await poll(service.running_batch, "a running batch")
                kill_points = (
                    lambda: _after_done_jobs(service, batch_id, 2),
                    lambda: _when_press_claimed(service, UPSCALE_KILL_PROMPT, 4),
                    lambda: _after_done_jobs(service, batch_id, 14),
                )
                for kill_point in kill_points:
                    await kill_point()
                    await service.kill()
                    await service.start()
                result = await user.wait_for_message(
                    _is_result_post(sandbox, batch_id), timeout=RESULT_TIMEOUT
                )
                history = await user.history(limit=100)
                posts = [m for m in history if _is_result_post(sandbox, batch_id)(m)]
                zip_bytes, report_bytes = await _download_outputs(user, result)
        finally:
            await service.stop()
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


async def _after_done_jobs(service: ServiceProcess, batch_id: int, count: int) -> None:
    await poll(lambda: _done_jobs(service, batch_id) >= count or None, f"{count} done jobs")


async def _when_press_claimed(service: ServiceProcess, prompt_start: str, index: int) -> None:
    """Return as soon as MidJAu has recorded U<index> of the prompt's job as pressed.

    The press itself follows after the pacing gap, so a kill now lands between the two.
    """

    def claimed() -> bool:
        rows = service.query(
            "select upscales_pressed from jobs where prompt like ?", f"{prompt_start}%"
        )
        return bool(rows) and index in json.loads(rows[0][0] or "[]")

    await poll(lambda: claimed() or None, f"U{index} of {prompt_start!r} pressed", interval=0.005)


def _done_jobs(service: ServiceProcess, batch_id: int) -> int:
    rows = service.query(
        "select count(*) from jobs where batch_id = ? and status = 'done'", batch_id
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
