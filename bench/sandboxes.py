"""Start the sandbox for a benchmark: in a child process (the default) or in this one."""

from __future__ import annotations

import asyncio
import json
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.sandbox_process import TIME_SCALE, describe
from midjau.settings import SandboxSettings
from sandbox.server import Sandbox

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
# Seconds the child process may take to import everything and start listening.
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class SandboxUsage:
    """CPU seconds and peak resident memory (MiB) of the sandbox's own process."""

    cpu_seconds: float
    peak_rss_mib: float


class RunningSandbox(ABC):
    """A started sandbox: ``info`` contains its addresses, tokens and ids (see ``describe``)."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info

    @abstractmethod
    async def stop(self) -> SandboxUsage | None:
        """Stop the sandbox; return its own usage when it ran in a process of its own."""


class ChildProcessSandbox(RunningSandbox):
    """The sandbox in a ``python -m bench.sandbox_process`` child."""

    def __init__(self, info: dict[str, Any], process: asyncio.subprocess.Process) -> None:
        super().__init__(info)
        self.process = process

    async def stop(self) -> SandboxUsage | None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        last_line = await self.process.stdout.readline()
        await self.process.wait()
        if not last_line:
            return None
        usage = json.loads(last_line)
        return SandboxUsage(usage["cpu_seconds"], usage["peak_rss_mib"])


class InProcessSandbox(RunningSandbox):
    """The sandbox on this process's event loop."""

    def __init__(self, sandbox: Sandbox) -> None:
        super().__init__(describe(sandbox))
        self.sandbox = sandbox

    async def stop(self) -> SandboxUsage | None:
        await self.sandbox.stop()
        return None


async def start_sandbox(
    *, job_seconds: float, plan: str, grid_long_side: int, in_process: bool
) -> RunningSandbox:
    """Start a sandbox whose fast jobs take ``job_seconds`` and whose grids are small."""
    if in_process:
        settings = SandboxSettings(time_scale=TIME_SCALE, job_seconds=job_seconds, plan=plan)
        sandbox = Sandbox(settings)
        await sandbox.start()
        sandbox.midjourney.knobs.grid_long_side = grid_long_side
        return InProcessSandbox(sandbox)

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sandbox_process",
        f"--job-seconds={job_seconds}",
        f"--plan={plan}",
        f"--grid-long-side={grid_long_side}",
        cwd=REPOSITORY_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            first_line = await process.stdout.readline()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(
            f"the sandbox process did not start within {START_TIMEOUT_SECONDS:g} s"
        ) from None
    if not first_line:
        await process.wait()
        raise RuntimeError(
            f"the sandbox process exited with code {process.returncode} before it started; "
            "its error output is above"
        )
    return ChildProcessSandbox(json.loads(first_line), process)
