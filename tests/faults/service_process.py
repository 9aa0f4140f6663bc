"""``midjau run`` as a separate process on a sandbox in the test, so tests can SIGKILL it.

The sandbox (Discord and the simulated Midjourney) stays in the test process, where its
switches can be flipped; MidJAu runs as an operator starts it, with its database in a
folder the test reads with plain sqlite3 (read-only) to find its moments.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from sandbox.server import Sandbox
from tests.child_processes import stop_process

T = TypeVar("T")

STEP_TIMEOUT = 30.0
# Seconds a stopping service gets to close its sessions and database before it is killed.
STOP_TIMEOUT = 20.0


class ServiceProcess:
    """Start, kill and restart ``midjau run`` against a running sandbox."""

    def __init__(
        self,
        sandbox: Sandbox,
        workdir: Path,
        *,
        plan: str = "basic",
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.plan = plan
        self.env = _service_env(sandbox, self.data_dir) | dict(environment or {})
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def connect(self) -> None:
        """Store the sandbox user's connection with ``midjau connect``."""
        process = await asyncio.create_subprocess_exec(
            *_midjau("connect", "--owner", self.sandbox.user_id, "--plan", self.plan),
            "--guild",
            self.sandbox.guild_id,
            "--channel",
            self.sandbox.channel_id,
            cwd=self.workdir,
            env=self.env | {"MIDJAU_CONNECT_TOKEN": self.sandbox.user_token},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(process.communicate(), timeout=STEP_TIMEOUT)
        assert process.returncode == 0, output.decode()

    async def start(self) -> None:
        """Start ``midjau run``, logging to service-N.log, and wait until it answers /health."""
        port = _free_port()
        log = await asyncio.to_thread((self.workdir / f"service-{self.starts}.log").open, "wb")
        self.process = await asyncio.create_subprocess_exec(
            *_midjau("run"),
            cwd=self.workdir,
            env=self.env | {"MIDJAU_WEB__PORT": str(port)},
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        log.close()
        self.starts += 1
        await _wait_for_health(f"http://127.0.0.1:{port}/health", self.process)

    async def kill(self) -> None:
        """SIGKILL the service, as a crash or an out-of-memory kill would."""
        assert self.process is not None
        self.process.kill()
        await self.process.wait()

    async def stop(self) -> None:
        """Stop the service the way an operator does (SIGINT), if it still runs."""
        if self.process is None or self.process.returncode is not None:
            return
        await stop_process(self.process, signal.SIGINT, within=STOP_TIMEOUT)

    async def terminate(self) -> None:
        """Stop the service the way systemd and Docker do (SIGTERM)."""
        assert self.process is not None
        await stop_process(self.process, signal.SIGTERM, within=STOP_TIMEOUT)

    def query(self, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
        """Run a read-only query on the service's database; [] while it is not readable."""
        database = self.data_dir / "midjau.db"
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        try:
            return connection.execute(sql, parameters).fetchall()
        except sqlite3.OperationalError:
            return []  # the schema is not there yet, or the writer holds a lock
        finally:
            connection.close()

    def running_batch(self) -> int | None:
        """Return the id of the first batch past confirmation, or None."""
        rows = self.query("select id from batches where status != 'awaiting_confirmation'")
        return int(rows[0][0]) if rows else None

    def finished_jobs(self, batch_id: int) -> int:
        """Count the batch's jobs in a final state."""
        rows = self.query(
            "select count(*) from jobs where batch_id = ? and status in "
            "('done', 'failed', 'cancelled')",
            batch_id,
        )
        return int(rows[0][0]) if rows else 0


async def poll(
    read: Callable[[], T | None], what: str, *, interval: float = 0.1, within: float = STEP_TIMEOUT
) -> T:
    """Call ``read`` in a thread until it returns a value; fail after ``within`` seconds."""
    for _ in range(int(within / interval)):
        value = await asyncio.to_thread(read)
        if value is not None:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"no {what} within {within:.0f} s")


def _service_env(sandbox: Sandbox, data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MIDJAU_")}
    return env | {
        "MIDJAU_DATA_DIR": str(data_dir),
        "MIDJAU_DISCORD__BOT_TOKEN": sandbox.bot_token,
        "MIDJAU_DISCORD__API_BASE": sandbox.api_base,
        "MIDJAU_DISCORD__GATEWAY_URL": sandbox.gateway_url,
        "MIDJAU_DISCORD__GUILD_READY_TIMEOUT": "0.05",
        "MIDJAU_DISCORD__PROGRESS_EDIT_INTERVAL": "0.5",
        "MIDJAU_PACING__MIN_GAP_SECONDS": "0.05",
        "MIDJAU_PACING__JITTER_SECONDS": "0.01",
    }


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
