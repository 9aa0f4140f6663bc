"""Stopping the ``midjau`` processes tests start, so a stuck one fails its test and dies.

A process that does not stop within the time allowed is killed before the test fails,
so it cannot keep ports, files or CPU for the rest of the suite.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess


async def stop_process(
    process: asyncio.subprocess.Process, signum: signal.Signals, *, within: float
) -> bytes:
    """Send ``signum`` and return the process's remaining output once it has exited.

    Kill the process and raise AssertionError when it runs ``within`` seconds later.
    """
    process.send_signal(signum)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=within)
    except TimeoutError:
        process.kill()
        await process.communicate()
        raise AssertionError(_still_running(process.pid, signum, within)) from None
    return output or b""


def stop_popen(process: subprocess.Popen[str], signum: signal.Signals, *, within: float) -> None:
    """Send ``signum`` and wait for the process to exit; kill it and fail after ``within`` s."""
    process.send_signal(signum)
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(_still_running(process.pid, signum, within)) from None


def _still_running(pid: int, signum: signal.Signals, within: float) -> str:
    return f"process {pid} still ran {within:g} s after {signum.name}, so it was killed"
