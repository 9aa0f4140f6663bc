from collections.abc import Callable

from bot.client import MidjauBot
from bot.cogs.connections import RESUME_PREFIX
from pipeline.engine import Engine
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from tests.bot.conftest import Message, buttons_of, by_bot, store_other_connection

EPHEMERAL = 64


def content_has(text: str) -> Callable[[Message], bool]:
    return lambda message: text in str(message.get("content", ""))


async def test_status_without_connection_explains_connect(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser
) -> None:
    await user.run_slash_command("connection status")

    reply = await user.wait_for_message(by_bot(sandbox, content_has("midjau connect")), timeout=5)

    assert reply["flags"] & EPHEMERAL


async def test_settings_without_choices_changes_nothing(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine, connected_user_id: int
) -> None:
    await user.run_slash_command("connection settings")

    reply = await user.wait_for_message(by_bot(sandbox, content_has("Nothing changed")), timeout=5)
    [health] = await engine.connection_health(connected_user_id)

    assert reply["flags"] & EPHEMERAL
    assert "When fast hours run out: pause and tell you." in reply["content"]
    assert not health.relax_when_fast_used_up
    assert not health.appeal_soft_moderation


async def test_settings_of_unknown_connection_is_rejected(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    await user.run_slash_command(
        "connection settings", {"appeal_soft_moderation": True, "connection": 999}
    )

    reply = await user.wait_for_message(by_bot(sandbox, content_has("999")), timeout=5)

    assert "is not one of yours" in reply["content"]
    assert reply["flags"] & EPHEMERAL


async def test_resume_by_other_user_is_rejected(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine
) -> None:
    owner_id = await engine.ensure_user("4242", "owner")
    connection_id = await store_other_connection(
        engine,
        owner_id,
        guild_id=sandbox.guild_id,
        channel_id=sandbox.channel_id,
        label="owner's account",
    )
    await engine.pause(connection_id, "Your token was rejected")
    custom_id = f"{RESUME_PREFIX}{connection_id}"
    notice = await user.wait_for_message(
        by_bot(sandbox, lambda message: custom_id in str(buttons_of(message))), timeout=5
    )

    await user.click_button(notice["id"], custom_id)
    rejection = await user.wait_for_message(
        by_bot(sandbox, content_has("is not one of yours")), timeout=5
    )
    [health] = await engine.connection_health(owner_id)

    assert rejection["flags"] & EPHEMERAL
    assert "<@4242>" in notice["content"]
    assert not health.working
