"""The midjau command line, run as a user would: in-process for short commands, as a
subprocess for the long-running ones."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from midjau.cli import main
from midjau.settings import SandboxSettings
from sandbox.server import Sandbox
from storage.crypto import TokenCipher
from tests.child_processes import stop_popen, stop_process

TOKEN = "mfa.sandbox-user-token-for-cli-tests"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty folder with no MIDJAU_ settings from the caller's environment."""
    for name in list(os.environ):
        if name.startswith("MIDJAU_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MIDJAU_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path


def test_db_upgrade_creates_the_schema(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0

    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"users", "midjourney_connections", "batches", "jobs", "images"} <= tables
    assert "up to date" in capsys.readouterr().out


@dataclass(frozen=True, slots=True)
class RunningSandbox:
    """The ids and token of a sandbox served from a thread, for the in-process commands."""

    token: str
    guild_id: str
    channel_id: str
    user_id: str

    @property
    def link(self) -> str:
        return f"https://discord.com/channels/{self.guild_id}/{self.channel_id}"


@pytest.fixture
def sandbox(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningSandbox]:
    """Serve the sandbox on its own event loop, since ``main`` runs one of its own."""
    started = threading.Event()
    stop = threading.Event()
    found: list[RunningSandbox] = []
    addresses: dict[str, str] = {}

    async def serve() -> None:
        async with Sandbox(SandboxSettings()) as running:
            addresses.update(api_base=running.api_base, gateway_url=running.gateway_url)
            found.append(
                RunningSandbox(
                    running.user_token, running.guild_id, running.channel_id, running.user_id
                )
            )
            started.set()
            await asyncio.to_thread(stop.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert started.wait(10), "the sandbox did not start"
        monkeypatch.setenv("MIDJAU_DISCORD__API_BASE", addresses["api_base"])
        monkeypatch.setenv("MIDJAU_DISCORD__GATEWAY_URL", addresses["gateway_url"])
        yield found[0]
    finally:
        stop.set()
        thread.join(10)


def stored_connections(workdir: Path) -> list[tuple[str, str, str, str, bytes]]:
    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        return connection.execute(
            "select guild_id, channel_id, plan, discord_account_id, token_ciphertext"
            " from midjourney_connections"
        ).fetchall()


def test_connect_stores_the_token_encrypted(
    workdir: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", sandbox.token)

    status = main(["connect", "--owner", "4242", "--channel-link", sandbox.link, "--plan", "pro"])

    assert status == 0
    assert sandbox.token not in capsys.readouterr().out
    [(guild, channel, plan, account_id, ciphertext)] = stored_connections(workdir)
    assert (guild, channel, plan) == (sandbox.guild_id, sandbox.channel_id, "pro")
    assert account_id == sandbox.user_id
    assert sandbox.token.encode() not in ciphertext
    key = (workdir / "data" / "secret.key").read_bytes()
    assert TokenCipher(key).decrypt(ciphertext) == sandbox.token


def test_connect_again_replaces_the_connection(
    workdir: Path, sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = ["connect", "--owner", "4242", "--channel-link", sandbox.link]
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", sandbox.token)
    assert main([*arguments, "--plan", "basic"]) == 0
    assert main([*arguments, "--plan", "mega"]) == 0

    assert [row[2] for row in stored_connections(workdir)] == ["mega"]


def test_connect_refuses_a_channel_discord_does_not_show(
    workdir: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", sandbox.token)
    missing = "1180000000000009999"

    status = main(["connect", "--owner", "4242", "--guild", sandbox.guild_id, "--channel", missing])

    assert status == 2
    assert f"Discord says channel {missing} does not exist" in capsys.readouterr().err
    assert stored_connections(workdir) == []


def test_connect_refuses_a_rejected_token(
    workdir: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", "not-a-token-discord-knows")

    status = main(["connect", "--owner", "4242", "--channel-link", sandbox.link])

    assert status == 2
    assert "Discord rejected the token" in capsys.readouterr().err
    assert stored_connections(workdir) == []


def test_connect_refuses_the_account_of_another_owner(
    workdir: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", sandbox.token)
    assert main(["connect", "--owner", "4242", "--channel-link", sandbox.link]) == 0

    status = main(["connect", "--owner", "4343", "--channel-link", sandbox.link])

    assert status == 2
    assert "already connected to another MidJAu account" in capsys.readouterr().err
    assert len(stored_connections(workdir)) == 1


def test_connect_rejected_for_restricted_owner(
    workdir: Path,
    sandbox: RunningSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["connect", "--owner", "4242", "--channel-link", sandbox.link]
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", sandbox.token)
    assert main([*arguments, "--plan", "basic"]) == 0
    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        connection.execute("update users set restricted_at = '2026-01-02 03:04:05'")

    status = main([*arguments, "--plan", "mega"])

    assert status == 2
    assert "Processing is restricted" in capsys.readouterr().err
    assert [row[2] for row in stored_connections(workdir)] == ["basic"]


def test_connect_without_token_names_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    link = "https://discord.com/channels/1180000000000000001/1180000000000000010"
    status = main(["connect", "--owner", "4242", "--channel-link", link])

    assert status == 2
    assert "MIDJAU_CONNECT_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    "link",
    ["https://example.com/channels/1/2", "discord.com/1/2"],
)
def test_connect_rejects_non_channel_link(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)

    status = main(["connect", "--owner", "4242", "--channel-link", link])

    assert status == 2
    assert "is not a Discord channel link" in capsys.readouterr().err


def test_connect_rejects_short_guild_id(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)

    status = main(["connect", "--owner", "4242", "--guild", "111", "--channel", "222"])

    assert status == 2
    assert "--guild '111' is not a Discord id" in capsys.readouterr().err


def test_connect_rejects_non_numeric_owner(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)

    status = main(["connect", "--owner", "bob", "--guild", "111", "--channel", "222"])

    assert status == 2
    assert "'bob' is not a Discord user id" in capsys.readouterr().err


def test_invalid_setting_is_named_without_a_traceback(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIDJAU_WEB__PORT", "99999")

    assert main(["db", "upgrade"]) == 2
    error = capsys.readouterr().err
    assert "MIDJAU_WEB__PORT: Input should be less than or equal to 65535" in error
    assert "Traceback" not in error


def test_secret_setting_value_is_not_echoed(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIDJAU_DISCORD", "{not json: s3cret-value")

    assert main(["db", "upgrade"]) == 2
    assert "s3cret-value" not in capsys.readouterr().err


def test_no_command_prints_help(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: midjau" in capsys.readouterr().out


def test_demo_names_a_missing_sheet(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-sheet.xlsx"]) == 2
    assert "No such file: no-such-sheet.xlsx" in capsys.readouterr().out


def test_demo_rejects_file_as_output(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "prompts.csv").write_text("prompt\na fox\n")
    (workdir / "results").write_text("not a folder")

    assert main(["demo", "prompts.csv", "--out", "results"]) == 2
    assert "results is a file" in capsys.readouterr().out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _spawn(arguments: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "midjau.cli", *arguments],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def _clean_env(data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("MIDJAU_")}
    env["MIDJAU_DATA_DIR"] = str(data_dir)
    return env


def test_sandbox_serves_until_interrupted(tmp_path: Path) -> None:
    port = _free_port()
    process = _spawn(["sandbox", "--port", str(port)], _clean_env(tmp_path / "data"), tmp_path)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.strip() == f"Sandbox Discord at http://127.0.0.1:{port}"
        lines = [first_line]
        while lines[-1] and "Press Ctrl+C" not in lines[-1]:
            lines.append(process.stdout.readline())
        bot_token = re.search(r"MIDJAU_DISCORD__BOT_TOKEN=(\S+)", "".join(lines))
        assert bot_token is not None
        assert any(line.startswith("For the web site's connect form: token ") for line in lines)

        me = asyncio.run(
            _get_json(f"http://127.0.0.1:{port}/api/v10/users/@me", f"Bot {bot_token[1]}")
        )
        assert me["bot"] is True
    finally:
        stop_popen(process, signal.SIGINT, within=10)
    assert process.returncode in (0, 130)


async def _get_json(url: str, authorization: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": authorization}) as response,
    ):
        response.raise_for_status()
        return dict(await response.json())


async def test_run_starts_bot_and_web(tmp_path: Path) -> None:
    web_port = _free_port()
    async with Sandbox(SandboxSettings()) as sandbox:
        env = _clean_env(tmp_path / "data") | {
            "MIDJAU_DISCORD__BOT_TOKEN": sandbox.bot_token,
            "MIDJAU_DISCORD__API_BASE": sandbox.api_base,
            "MIDJAU_DISCORD__GATEWAY_URL": sandbox.gateway_url,
            "MIDJAU_DISCORD__GUILD_READY_TIMEOUT": "0.05",
            "MIDJAU_WEB__PORT": str(web_port),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "midjau.cli",
            "run",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            health = await _wait_for_health(f"http://127.0.0.1:{web_port}/health")
            assert health == {
                "status": "ok",
                "database": "ok",
                "connections": {"working": 0, "paused": 0, "failing": 0},
            }
            # The bot logged in over the gateway and published its commands.
            commands = sandbox.discord.commands.in_scope(sandbox.bot_user_id)
            assert sorted(command["name"] for command in commands) == ["batch", "connection"]
        finally:
            output = await stop_process(process, signal.SIGINT, within=20)
        text = output.decode()
        assert "MidJAu stopped" in text
        assert sandbox.bot_token not in text


def _run_env(data_dir: Path, sandbox: Sandbox, web_port: int) -> dict[str, str]:
    return _clean_env(data_dir) | {
        "MIDJAU_DISCORD__BOT_TOKEN": sandbox.bot_token,
        "MIDJAU_DISCORD__API_BASE": sandbox.api_base,
        "MIDJAU_DISCORD__GATEWAY_URL": sandbox.gateway_url,
        "MIDJAU_DISCORD__GUILD_READY_TIMEOUT": "0.05",
        "MIDJAU_WEB__PORT": str(web_port),
    }


async def _start_run(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "midjau.cli",
        "run",
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def _run_to_end(env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await _start_run(env, cwd)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode()


@pytest.mark.parametrize("conflict", ["same data folder", "same web port"])
async def test_second_run_exits_before_discord(tmp_path: Path, conflict: str) -> None:
    web_port = _free_port()
    async with Sandbox(SandboxSettings()) as sandbox:
        first = await _start_run(_run_env(tmp_path / "data", sandbox, web_port), tmp_path)
        try:
            await _wait_for_health(f"http://127.0.0.1:{web_port}/health")
            sessions_before = len(sandbox.discord.gateway.sessions)
            if conflict == "same data folder":
                env = _run_env(tmp_path / "data", sandbox, _free_port())
            else:
                env = _run_env(tmp_path / "other-data", sandbox, web_port)
            status, text = await _run_to_end(env, tmp_path)
            sessions_after = len(sandbox.discord.gateway.sessions)
            first_still_runs = first.returncode is None
        finally:
            await stop_process(first, signal.SIGINT, within=20)

    assert status == 1
    if conflict == "same data folder":
        expected = f"another `midjau run` is already using {tmp_path / 'data'} (pid {first.pid})"
    else:
        expected = f"cannot serve the web site on 127.0.0.1:{web_port}"
    assert expected in text
    assert "Discord bot ready" not in text
    assert "Traceback" not in text
    assert sessions_after == sessions_before
    assert first_still_runs


async def _wait_for_health(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    return dict(await response.json())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 20 s")
