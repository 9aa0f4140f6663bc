import asyncio
import io

from openpyxl import load_workbook

from bot.client import MidjauBot
from bot.cogs.batches._commands import TEMPLATE_FILENAME
from bot.cogs.batches._summary import PROBLEMS_FILENAME
from pipeline.engine import Engine
from pipeline.progress import BatchProgress
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.models import Batch
from tests.bot.conftest import buttons_of, by_bot, sheet_bytes


async def test_template_returns_xlsx(bot: MidjauBot, sandbox: Sandbox, user: SandboxUser) -> None:
    await user.run_slash_command("batch template")

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(message.get("attachments"))), timeout=5
    )

    attachment = reply["attachments"][0]
    assert attachment["filename"] == TEMPLATE_FILENAME
    assert reply["flags"] & 64  # ephemeral
    workbook = load_workbook(io.BytesIO(await user.download(attachment["url"])), read_only=True)
    assert len(workbook.sheetnames) >= 2
    first_sheet = workbook[workbook.sheetnames[0]]
    headers = [str(cell.value).strip().lower() for cell in next(first_sheet.iter_rows(max_row=1))]
    assert "prompt" in headers


async def test_run_without_connection_explains_connect(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser
) -> None:
    sheet = sheet_bytes([["prompt"], ["a red fox in the snow"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "midjau connect" in message.get("content", "")), timeout=5
    )
    site = bot.settings.web.site_url
    assert reply["flags"] & 64  # ephemeral
    assert f"{site}/dashboard/settings/connections" in reply["content"]
    # These tests' site has no "Log in with Discord", so the reply offers no link to it.
    assert "/login/discord" not in reply["content"]


async def test_run_rejects_oversized_sheet_before_reading(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    bot.settings.intake.max_upload_bytes = 2048
    sheet = ("prompt\n" + "a red fox in the snow\n" * 400).encode()

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.csv", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "limit" in message.get("content", "")), timeout=5
    )
    assert "`prompts.csv`" in reply["content"]
    assert f"{len(sheet) / 1024 / 1024:.1f} MiB" in reply["content"]
    assert reply["flags"] & 64  # ephemeral


async def test_run_lists_invalid_cells(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes(
        [
            ["prompt", "stylize", "chaos"],
            ["a red fox in the snow", "100", "10"],
            ["a lighthouse at dusk", "5000", "10"],
            ["a paper boat", "50", "250"],
            ["a quiet harbour", "", ""],
        ]
    )

    await user.run_slash_command(
        "batch run", {"upscale": "U2"}, attachments={"sheet": ("prompts.xlsx", sheet)}
    )
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )

    content = reply["content"]
    assert "2 rows are invalid" in content
    assert "2 rows (2 jobs) can run" in content
    assert "Prompts row 3, column B" in content  # stylize 5000
    assert "Prompts row 4, column C" in content  # chaos 250
    labels = [button["label"] for button in buttons_of(reply)]
    assert labels == ["Run the 2 valid rows", "Cancel"]
    assert [attachment["filename"] for attachment in reply["attachments"]] == [PROBLEMS_FILENAME]

    batches = await engine.active_batches(connected_user_id)
    assert [progress.status for progress in batches] == ["awaiting_confirmation"]
    assert batches[0].total == 2


async def test_run_button_starts_batch_and_posts_progress(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "100"], ["a lighthouse", "5000"]])
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )
    run_button = buttons_of(reply)[0]
    assert run_button["custom_id"].startswith("midjau:batch:run:")
    batch_id = int(run_button["custom_id"].rsplit(":", 1)[1])

    await user.click_button(reply["id"], run_button["custom_id"])

    progress_message = await user.wait_for_message(
        by_bot(sandbox, lambda message: f"**Batch {batch_id}**" in message.get("content", "")),
        timeout=5,
    )
    assert "queued 1" in progress_message["content"]
    assert not progress_message["flags"] & 64  # a channel message, not a followup
    # The bot records the message's id right after Discord answers the post.
    batches = await wait_for_progress_message(engine, connected_user_id)
    assert [progress.status for progress in batches] == ["queued"]
    assert batches[0].progress_message_id == progress_message["id"]


async def wait_for_progress_message(engine: Engine, user_id: int) -> list[BatchProgress]:
    async with asyncio.timeout(5):
        while True:
            batches = await engine.active_batches(user_id)
            if batches and batches[0].progress_message_id:
                return batches
            await asyncio.sleep(0.01)


async def test_cancel_without_batches_says_so(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    await user.run_slash_command("batch cancel")

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "no running batch" in message.get("content", "")),
        timeout=5,
    )
    assert reply["flags"] & 64  # ephemeral


async def test_invalid_cell_text_never_mentions(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "@everyone"], ["a boat", "<@&42>"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "invalid" in message.get("content", "")), timeout=5
    )

    content = reply["content"]
    assert "Prompts row 2, column B" in content
    assert "Prompts row 3, column B" in content
    assert "@everyone" not in content
    assert "<@&42>" not in content
    assert "everyone" in content  # still readable, only defused


async def test_status_lists_open_batches(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "100"], ["a boat", "5000"]])
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    await user.wait_for_message(by_bot(sandbox, lambda message: bool(buttons_of(message))), 5)

    await user.run_slash_command("batch status")
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: message.get("content", "").startswith("**Batch ")),
        timeout=5,
    )

    assert "awaiting confirmation" in reply["content"]
    assert "0/1 jobs" in reply["content"]
    assert reply["flags"] & 64  # ephemeral


async def test_cancel_command_cancels_named_batch(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "100"], ["a boat", "5000"]])
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    await user.wait_for_message(by_bot(sandbox, lambda message: bool(buttons_of(message))), 5)
    [waiting] = await engine.active_batches(connected_user_id)

    await user.run_slash_command("batch cancel", {"batch": waiting.batch_id})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "is cancelled" in message.get("content", "")), timeout=5
    )

    assert f"Batch {waiting.batch_id} is cancelled" in reply["content"]
    progress = await engine.progress(waiting.batch_id)
    assert progress.status == "cancelled"
    assert progress.cancelled == 1


async def test_cancel_button_discards_waiting_batch(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes([["prompt", "stylize"], ["a red fox", "100"], ["a boat", "5000"]])
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )
    cancel_button = buttons_of(reply)[1]
    batch_id = int(cancel_button["custom_id"].rsplit(":", 1)[1])

    await user.click_button(reply["id"], cancel_button["custom_id"])
    await user.wait_for_message(
        by_bot(sandbox, lambda message: "is discarded" in message.get("content", "")), timeout=5
    )

    async with engine.db.sessions() as session:
        assert await session.get(Batch, batch_id) is None
    edited = await user.wait_for_message(
        lambda message: message["id"] == reply["id"] and not buttons_of(message), timeout=5
    )
    assert edited["content"] == f"Batch {batch_id} is discarded; nothing was sent."
    assert edited["attachments"], "the problems file stays attached"


async def test_cancel_button_on_progress_cancels_batch(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes([["prompt"], ["a red fox"], ["a paper boat"]])
    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )
    run_button = buttons_of(reply)[0]
    batch_id = int(run_button["custom_id"].rsplit(":", 1)[1])
    await user.click_button(reply["id"], run_button["custom_id"])
    progress_message = await user.wait_for_message(
        by_bot(
            sandbox,
            lambda message: (
                f"**Batch {batch_id}**" in message.get("content", "") and bool(buttons_of(message))
            ),
        ),
        timeout=5,
    )

    [cancel_button] = buttons_of(progress_message)
    await user.click_button(progress_message["id"], cancel_button["custom_id"])
    confirmation = await user.wait_for_message(
        by_bot(sandbox, lambda message: "is cancelled" in message.get("content", "")), timeout=5
    )

    assert f"Batch {batch_id} is cancelled" in confirmation["content"]
    progress = await engine.progress(batch_id)
    assert progress.status == "cancelled"
    assert progress.cancelled == 2


async def test_dropped_sheet_gets_confirm_button(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    sheet = sheet_bytes([["prompt"], ["a red fox"], ["a paper boat"]])

    dropped = await user.send_message("my prompts", files=[("dropped.xlsx", sheet)])
    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(buttons_of(message))), timeout=5
    )

    assert (reply.get("message_reference") or {}).get("message_id") == dropped["id"]
    assert "2 rows (2 jobs) can run" in reply["content"]
    assert [button["label"] for button in buttons_of(reply)] == ["Run this sheet", "Cancel"]
    batches = await engine.active_batches(connected_user_id)
    assert [progress.status for progress in batches] == ["awaiting_confirmation"]

    await user.click_button(reply["id"], buttons_of(reply)[0]["custom_id"])
    await user.wait_for_message(
        by_bot(sandbox, lambda message: "**Batch " in message.get("content", "")), timeout=5
    )
    assert [progress.status for progress in await engine.active_batches(connected_user_id)] == [
        "queued"
    ]


async def test_dropped_sheet_outside_watched_channels_is_ignored(
    bot: MidjauBot,
    sandbox: Sandbox,
    user: SandboxUser,
    engine: Engine,
    connected_user_id: int,
) -> None:
    bot.settings.discord.watched_channel_ids = [int(sandbox.general_channel_id)]
    sheet = sheet_bytes([["prompt"], ["a red fox"]])

    ignored = await user.send_message(files=[("ignored.xlsx", sheet)])
    watched = await user.send_message(
        files=[("watched.xlsx", sheet)], channel_id=sandbox.general_channel_id
    )
    await user.wait_for_message(
        by_bot(sandbox, lambda message: "watched.xlsx" in message.get("content", "")),
        timeout=5,
    )

    replies_to = {
        (message.get("message_reference") or {}).get("message_id")
        for message in user.messages.values()
    }
    assert watched["id"] in replies_to
    assert ignored["id"] not in replies_to
    assert len(await engine.active_batches(connected_user_id)) == 1


async def test_dropped_unreadable_sheet_explained(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, connected_user_id: int
) -> None:
    await user.send_message(files=[("notes.txt", b"not a sheet")])
    broken = await user.send_message(files=[("broken.xlsx", b"this is not a zip file")])

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: bool(message.get("message_reference"))), timeout=5
    )

    assert reply["message_reference"]["message_id"] == broken["id"]
    assert reply["content"].startswith("The sheet could not be read:")
    assert "broken.xlsx" in reply["content"]
