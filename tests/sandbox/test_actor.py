"""SandboxUser acting as the human, against a simulated application plugged into the sandbox."""

from __future__ import annotations

import aiohttp
import pytest

from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from tests.sandbox.discord_harness import ECHO_APP_ID, EchoApplication


@pytest.fixture
def echo(discord_sandbox: Sandbox) -> EchoApplication:
    application = EchoApplication(discord_sandbox.discord)
    discord_sandbox.discord.register_application(application)
    return application


async def test_slash_command_reaches_application(
    discord_sandbox: Sandbox, echo: EchoApplication
) -> None:
    async with discord_sandbox.user() as user:
        interaction_id = await user.run_slash_command(
            "echo", {"text": "hello"}, {"file": ("notes.txt", b"some notes")}
        )
        reply = await user.wait_for_message(lambda m: m["content"].startswith("echo: hello"))
        success = await user.wait_for_event(
            "INTERACTION_SUCCESS", lambda d: d["id"] == interaction_id
        )

    payload = echo.received[0]
    assert payload["application_id"] == ECHO_APP_ID
    assert payload["session_id"] == user.session_id
    assert success["nonce"] == payload["nonce"]
    assert reply["nonce"] == payload["nonce"]
    assert reply["interaction_metadata"]["id"] == interaction_id
    file_option = next(o for o in payload["data"]["options"] if o["name"] == "file")
    resolved = payload["data"]["resolved"]["attachments"][str(file_option["value"])]
    assert resolved["filename"] == "notes.txt"
    assert resolved["size"] == len(b"some notes")


async def test_stale_version_is_rejected_with_400(
    discord_sandbox: Sandbox, echo: EchoApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = echo.commands()
    monkeypatch.setattr(echo, "commands", lambda: [original[0] | {"version": "1"}])

    async with discord_sandbox.user() as user:
        with pytest.raises(aiohttp.ClientResponseError) as raised:
            await user.run_slash_command("echo", {"text": "old"})

    assert raised.value.status == 400
    assert "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION" in raised.value.message
    assert echo.received == []


async def test_button_click_gets_ephemeral_answer(
    discord_sandbox: Sandbox, echo: EchoApplication
) -> None:
    async with discord_sandbox.user() as user:
        await user.run_slash_command("echo", {"text": "click me"})
        reply = await user.wait_for_message(lambda m: bool(m["components"]))
        await user.click_button(reply["id"], "echo::again")
        secret = await user.wait_for_message(lambda m: m["content"] == "only you see this")
        history = await user.history()

    click = echo.received[1]
    assert click["type"] == 3
    assert click["message_id"] == reply["id"]
    assert click["data"] == {"component_type": 2, "custom_id": "echo::again"}
    assert secret in user.ephemeral_messages()
    assert secret["id"] not in [m["id"] for m in history]


async def test_click_on_missing_button_is_refused(
    discord_sandbox: Sandbox, echo: EchoApplication
) -> None:
    async with discord_sandbox.user() as user:
        await user.run_slash_command("echo", {"text": "x"})
        reply = await user.wait_for_message(lambda m: bool(m["components"]))
        with pytest.raises(ValueError, match="no component"):
            await user.click_button(reply["id"], "does-not-exist")


async def test_unknown_option_names_the_valid_ones(
    discord_sandbox: Sandbox, echo: EchoApplication
) -> None:
    async with discord_sandbox.user() as user:
        with pytest.raises(LookupError, match="'file', 'text'"):
            await user.run_slash_command("echo", {"txt": "typo"})


async def test_send_message_with_file_and_download(discord_sandbox: Sandbox) -> None:
    async with discord_sandbox.user() as user:
        sent = await user.send_message("a sheet", [("rows.csv", b"prompt\nowl\n")])
        seen = await user.wait_for_message(lambda m: m["id"] == sent["id"])

        assert seen["author"]["id"] == discord_sandbox.user_id
        assert await user.download(sent["attachments"][0]["url"]) == b"prompt\nowl\n"


async def test_wait_for_message_times_out_clearly(discord_sandbox: Sandbox) -> None:
    async with discord_sandbox.user() as user:
        with pytest.raises(TimeoutError, match=r"no message matched within 0\.05 s"):
            await user.wait_for_message(lambda m: False, timeout=0.05)


async def test_user_without_gateway_polls_history(discord_sandbox: Sandbox) -> None:
    user = SandboxUser(
        api_base=discord_sandbox.api_base,
        gateway_url=discord_sandbox.gateway_url,
        token=discord_sandbox.user_token,
        guild_id=discord_sandbox.guild_id,
        channel_id=discord_sandbox.channel_id,
    )
    await user.start(gateway=False)
    try:
        discord_sandbox.discord.post_message(
            discord_sandbox.channel_id, "936929561302675456", content="polled"
        )
        message = await user.wait_for_message(lambda m: m["content"] == "polled", timeout=1)
    finally:
        await user.close()

    assert user.user_id == discord_sandbox.user_id
    assert message["author"]["username"] == "Midjourney Bot"


async def test_refresh_urls_from_actor(discord_sandbox: Sandbox) -> None:
    async with discord_sandbox.user() as user:
        sent = await user.send_message("file", [("a.png", b"a")])
        url = sent["attachments"][0]["url"]
        refreshed = await user.refresh_urls([url])

    assert list(refreshed) == [url]
    assert refreshed[url].split("?")[0] == url.split("?")[0]
