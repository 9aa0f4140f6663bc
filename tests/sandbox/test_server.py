"""The Sandbox lifecycle: addresses, the simulated Midjourney, run_forever."""

from __future__ import annotations

import asyncio

import aiohttp

from midjau.settings import SandboxSettings
from sandbox.server import Sandbox, run_forever


async def test_sandbox_exposes_addresses_and_ids() -> None:
    async with Sandbox(midjourney=False, guild_id="42") as sandbox:
        assert sandbox.base_url.startswith("http://127.0.0.1:")
        assert sandbox.api_base == f"{sandbox.base_url}/api/v10"
        assert sandbox.gateway_url == sandbox.base_url.replace("http", "ws") + "/gateway"
        assert sandbox.guild_id == "42"
        assert sandbox.midjourney is None
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": sandbox.user_token}
            async with http.get(
                f"{sandbox.api_base}/guilds/42/channels", headers=headers
            ) as response:
                channels = await response.json()
    assert [c["id"] for c in channels] == [sandbox.channel_id, sandbox.general_channel_id]


async def test_sandbox_starts_midjourney_and_lists_imagine() -> None:
    async with Sandbox(SandboxSettings()) as sandbox:
        assert sandbox.midjourney is not None
        async with aiohttp.ClientSession() as http:
            url = f"{sandbox.api_base}/guilds/{sandbox.guild_id}/application-command-index"
            async with http.get(url, headers={"Authorization": sandbox.user_token}) as response:
                index = await response.json()
    names = {(c["application_id"], c["name"]) for c in index["application_commands"]}
    assert ("936929561302675456", "imagine") in names


async def test_run_forever_announces_then_stops_on_cancel() -> None:
    lines: list[str] = []
    announced = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        if "Press Ctrl+C" in line:
            announced.set()

    task = asyncio.create_task(run_forever(SandboxSettings(), announce=announce))
    await asyncio.wait_for(announced.wait(), 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    assert lines[0].startswith("Sandbox Discord at http://127.0.0.1:")
    assert any(line.strip().startswith("MIDJAU_DISCORD__BOT_TOKEN=") for line in lines)


async def test_run_forever_prints_the_connect_form_values() -> None:
    lines: list[str] = []
    announced = asyncio.Event()

    def announce(line: str) -> None:
        lines.append(line)
        if "Press Ctrl+C" in line:
            announced.set()

    settings = SandboxSettings()
    task = asyncio.create_task(run_forever(settings, announce=announce))
    await asyncio.wait_for(announced.wait(), 3)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    link = f"https://discord.com/channels/{settings.guild_id}/{settings.prompts_channel_id}"
    expected = f"For the web site's connect form: token {settings.user_token}, channel link {link}"
    assert expected in lines
