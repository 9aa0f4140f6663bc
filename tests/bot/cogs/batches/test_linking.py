"""With a public site, the bot sends Discord users a link to link their account before a batch."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.client import MidjauBot
from pipeline.batch_requests import PROCESSING_RESTRICTED_MESSAGE
from pipeline.engine import Engine
from sandbox.actor import SandboxUser
from sandbox.server import Sandbox
from storage.models import Batch, User, utcnow
from tests.bot.conftest import buttons_of, by_bot, sheet_bytes

PUBLIC_URL = "https://midjau.example"
LINK = f"{PUBLIC_URL}/login/discord"


async def count_rows(engine: Engine, model: type[User] | type[Batch]) -> int:
    async with engine.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def accept_terms(engine: Engine, user_id: int) -> None:
    """Mark the user as an account made on the site (terms accepted, as both forms do)."""
    async with engine.db.sessions() as session, session.begin():
        user = await session.get(User, user_id)
        assert user is not None
        user.terms_version = "2026-12"
        user.terms_accepted_at = utcnow()


async def test_run_before_linking_replies_link(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine
) -> None:
    bot.settings.web.public_url = PUBLIC_URL
    sheet = sheet_bytes([["prompt"], ["a red fox in the snow"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: LINK in message.get("content", "")), timeout=5
    )
    assert reply["content"].startswith(f"Link your Discord account at {LINK} first")
    assert reply["flags"] & 64  # ephemeral
    assert await count_rows(engine, User) == 0
    assert await count_rows(engine, Batch) == 0


async def test_bot_made_user_still_needs_link(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine, connected_user_id: int
) -> None:
    bot.settings.web.public_url = PUBLIC_URL
    sheet = sheet_bytes([["prompt"], ["a red fox in the snow"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: LINK in message.get("content", "")), timeout=5
    )
    assert reply["flags"] & 64
    assert await engine.active_batches(connected_user_id) == []


async def test_linked_account_runs_batch(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine, connected_user_id: int
) -> None:
    bot.settings.web.public_url = PUBLIC_URL
    await accept_terms(engine, connected_user_id)
    sheet = sheet_bytes([["prompt"], ["a red fox in the snow"], ["a lighthouse at dusk"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "Batch" in message.get("content", "")), timeout=5
    )
    assert LINK not in reply["content"]
    batches = await engine.active_batches(connected_user_id)
    assert [progress.total for progress in batches] == [2]


async def test_dropped_sheet_before_linking_replies_link(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine
) -> None:
    bot.settings.web.public_url = PUBLIC_URL + "/"
    sheet = sheet_bytes([["prompt"], ["a red fox"]])

    dropped = await user.send_message("my prompts", files=[("dropped.xlsx", sheet)])

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: LINK in message.get("content", "")), timeout=5
    )
    assert (reply.get("message_reference") or {}).get("message_id") == dropped["id"]
    assert not buttons_of(reply)
    assert await count_rows(engine, Batch) == 0


async def test_without_public_url_bot_creates_users(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine, connected_user_id: int
) -> None:
    assert bot.settings.web.public_url is None
    sheet = sheet_bytes([["prompt"], ["a red fox"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "Batch" in message.get("content", "")), timeout=5
    )
    assert "Link your Discord account" not in reply["content"]
    assert len(await engine.active_batches(connected_user_id)) == 1


async def test_restricted_account_gets_restriction_message(
    bot: MidjauBot, sandbox: Sandbox, user: SandboxUser, engine: Engine, connected_user_id: int
) -> None:
    bot.settings.web.public_url = PUBLIC_URL
    await accept_terms(engine, connected_user_id)
    async with engine.db.sessions() as session, session.begin():
        stored = await session.get(User, connected_user_id)
        assert stored is not None
        stored.restricted_at = utcnow()
    sheet = sheet_bytes([["prompt"], ["a red fox in the snow"]])

    await user.run_slash_command("batch run", attachments={"sheet": ("prompts.xlsx", sheet)})

    reply = await user.wait_for_message(
        by_bot(sandbox, lambda message: "restricted" in message.get("content", "")), timeout=5
    )
    assert reply["content"] == PROCESSING_RESTRICTED_MESSAGE
    assert reply["flags"] & 64  # ephemeral
    assert await count_rows(engine, Batch) == 0
