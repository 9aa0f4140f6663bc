from typing import Any

import discord
from discord import app_commands

from bot.client import MidjauBot
from bot.cogs.errors import describe_error
from bot.errors import NoConnectionError, SheetRejectedError
from midjau.settings import WebSettings
from pipeline.engine import EngineError
from pipeline.intake.model import IntakeError
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from tests.bot.conftest import by_bot, sheet_bytes


class FakeResponse:
    """Just enough of an aiohttp response for discord.HTTPException."""

    status = 403
    reason = "Forbidden"


def test_user_errors_show_their_message() -> None:
    error = SheetRejectedError("`a.pdf` is not a sheet MidJAu reads.")

    assert describe_error(error) == "`a.pdf` is not a sheet MidJAu reads."


def test_wrapped_errors_are_unwrapped() -> None:
    command: app_commands.Command[Any, ..., None] = app_commands.Command(
        name="run", description="Run.", callback=_callback
    )
    wrapped = app_commands.CommandInvokeError(command, NoConnectionError(WebSettings()))

    assert "midjau connect" in (describe_error(wrapped) or "")


def test_intake_and_engine_errors_are_shown() -> None:
    intake = describe_error(IntakeError("prompts.xlsx has no 'prompt' column."))
    engine = describe_error(EngineError("Connect a Midjourney account first."))

    assert intake == "The sheet could not be read: prompts.xlsx has no 'prompt' column."
    assert engine == "Connect a Midjourney account first."


def test_permission_and_cooldown_errors_say_what_to_do() -> None:
    missing = describe_error(app_commands.MissingPermissions(["manage_messages"]))
    bot_missing = describe_error(app_commands.BotMissingPermissions(["attach_files"]))
    cooldown = describe_error(
        app_commands.CommandOnCooldown(app_commands.Cooldown(1, 5.0), retry_after=3.2)
    )
    forbidden = describe_error(discord.Forbidden(FakeResponse(), "Missing Access"))  # type: ignore[arg-type]

    assert missing is not None and "manage_messages" in missing
    assert bot_missing is not None and "attach_files" in bot_missing
    assert cooldown == "Slow down: try again in 3 s."
    assert forbidden is not None and "Attach Files" in forbidden


def test_unexpected_errors_get_no_message() -> None:
    assert describe_error(RuntimeError("database is locked")) is None
    assert describe_error(KeyError("batch")) is None


async def test_second_run_within_cooldown_is_refused(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "100"], ["a boat", "5000"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "Slow down" in message.get("content", "")), timeout=5
    )

    assert reply["flags"] & 64  # ephemeral
    assert "try again in" in reply["content"]


async def _callback(interaction: discord.Interaction) -> None:
    return None
