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
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from midjau.cli import main
from midjau.settings import SandboxSettings
from sandbox.server import Sandbox
from storage.crypto import TokenCipher

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


def test_connect_stores_the_token_encrypted(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)

    status = main(
        [
            "connect",
            "--owner",
            "4242",
            "--channel-link",
            "https://discord.com/channels/111/222",
            "--plan",
            "pro",
        ]
    )

    assert status == 0
    assert TOKEN not in capsys.readouterr().out
    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        guild, channel, plan, ciphertext = connection.execute(
            "select guild_id, channel_id, plan, token_ciphertext from midjourney_connections"
        ).fetchone()
    assert (guild, channel, plan) == ("111", "222", "pro")
    assert TOKEN.encode() not in ciphertext
    key = (workdir / "data" / "secret.key").read_bytes()
    assert TokenCipher(key).decrypt(ciphertext) == TOKEN


def test_connect_again_replaces_the_connection(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    arguments = ["connect", "--owner", "4242", "--guild", "111", "--channel", "222"]
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)
    assert main([*arguments, "--plan", "basic"]) == 0
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN + "-new")
    assert main([*arguments, "--plan", "mega"]) == 0

    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        rows = connection.execute(
            "select plan, token_ciphertext from midjourney_connections"
        ).fetchall()
    assert [plan for plan, _ in rows] == ["mega"]
    key = (workdir / "data" / "secret.key").read_bytes()
    assert TokenCipher(key).decrypt(rows[0][1]) == TOKEN + "-new"


def test_connect_rejected_for_restricted_owner(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["connect", "--owner", "4242", "--guild", "111", "--channel", "222"]
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)
    assert main([*arguments, "--plan", "basic"]) == 0
    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        connection.execute("update users set restricted_at = '2026-01-02 03:04:05'")

    status = main([*arguments, "--guild", "333"])

    assert status == 2
    assert "Processing is restricted" in capsys.readouterr().err
    with sqlite3.connect(workdir / "data" / "midjau.db") as connection:
        guilds = connection.execute("select guild_id from midjourney_connections").fetchall()
    assert guilds == [("111",)]


def test_connect_without_token_names_variable(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["connect", "--owner", "4242", "--guild", "111", "--channel", "222"])

    assert status == 2
    assert "MIDJAU_CONNECT_TOKEN" in capsys.readouterr().err


@pytest.mark.parametrize(
    "link",
    ["https://example.com/channels/1/2", "https://discord.com/channels/@me/2", "discord.com/1/2"],
)
def test_connect_rejects_non_channel_link(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    monkeypatch.setenv("MIDJAU_CONNECT_TOKEN", TOKEN)

    status = main(["connect", "--owner", "4242", "--channel-link", link])

    assert status == 2
    assert "is not a Discord channel link" in capsys.readouterr().err


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
        lines = [process.stdout.readline() for _ in range(4)]
        bot_token = re.search(r"MIDJAU_DISCORD__BOT_TOKEN=(\S+)", "".join(lines))
        assert bot_token is not None

        me = asyncio.run(
            _get_json(f"http://127.0.0.1:{port}/api/v10/users/@me", f"Bot {bot_token[1]}")
        )
        assert me["bot"] is True
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
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
                "connections": {"working": 0, "paused": 0},
            }
            # The bot logged in over the gateway and published its commands.
            commands = sandbox.discord.commands.in_scope(sandbox.bot_user_id)
            assert sorted(command["name"] for command in commands) == ["batch", "connection"]
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
        text = output.decode()
        assert "MidJAu stopped" in text
        assert sandbox.bot_token not in text


async def _wait_for_health(url: str) -> dict[str, object]:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(url) as response:
                    return dict(await response.json())
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"{url} did not answer within 20 s")
