"""The real discord.py client (the kind MidJAu runs) against the sandbox Discord."""

from __future__ import annotations

import asyncio
import io

import discord
from discord import app_commands

from sandbox.actor import SandboxUser
from sandbox.discord.applications import SandboxFile
from sandbox.server import Sandbox
from tests.sandbox.conftest import StartBot
from tests.sandbox.discord_harness import SandboxTestBot

MIDJOURNEY_BOT_ID = "936929561302675456"


def add_guild_commands(
    bot: SandboxTestBot, sandbox: Sandbox, *commands: app_commands.Command
) -> None:
    guild = discord.Object(int(sandbox.guild_id))
    for command in commands:
        bot.tree.add_command(command, guild=guild)

    async def setup_hook() -> None:
        await bot.tree.sync(guild=guild)

    bot.setup_hook = setup_hook  # type: ignore[method-assign]


async def test_bot_logs_in_and_sees_guild(discord_sandbox: Sandbox, start_bot: StartBot) -> None:
    bot = await start_bot()

    assert bot.user is not None
    assert str(bot.user.id) == discord_sandbox.bot_user_id
    assert bot.application_id == int(discord_sandbox.bot_user_id)
    guild = bot.get_guild(int(discord_sandbox.guild_id))
    assert guild is not None
    assert guild.name == "MidJAu Sandbox"
    assert guild.me is not None
    channel = guild.get_channel(int(discord_sandbox.channel_id))
    assert isinstance(channel, discord.TextChannel)
    assert channel.name == "prompts"


async def test_bot_downloads_midjourney_attachment(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    received: asyncio.Queue[discord.Message] = asyncio.Queue()
    bot = await start_bot(lambda b: b.add_listener(received.put, "on_message"))

    discord_sandbox.discord.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content=f"**a red fox** - <@{discord_sandbox.user_id}> (fast)",
        files=[SandboxFile("fox.png", b"\x89PNG fox", "image/png", 2048, 2048)],
    )
    message = await asyncio.wait_for(received.get(), 2)

    assert message.author.id == int(MIDJOURNEY_BOT_ID)
    assert message.author.bot
    assert isinstance(message.channel, discord.TextChannel)
    assert message.attachments[0].width == 2048
    assert await message.attachments[0].read() == b"\x89PNG fox"
    assert bot.user is not None


async def test_bot_sends_file_and_sees_own_echo(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    received: asyncio.Queue[discord.Message] = asyncio.Queue()
    bot = await start_bot(lambda b: b.add_listener(received.put, "on_message"))
    channel = bot.get_channel(int(discord_sandbox.channel_id))
    assert isinstance(channel, discord.TextChannel)

    sent = await channel.send("results", file=discord.File(io.BytesIO(b"zip"), "results.zip"))
    echoed = await asyncio.wait_for(received.get(), 2)
    edited = await sent.edit(content="results (edited)")

    assert echoed.id == sent.id
    assert echoed.author == bot.user
    assert await sent.attachments[0].read() == b"zip"
    assert edited.content == "results (edited)"
    stored = discord_sandbox.discord.get_message(discord_sandbox.channel_id, str(sent.id))
    assert stored is not None
    assert stored["content"] == "results (edited)"


async def test_progress_edit_reaches_on_message_edit(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    edits: asyncio.Queue[tuple[discord.Message, discord.Message]] = asyncio.Queue()
    arrived = asyncio.Event()

    async def on_edit(before: discord.Message, after: discord.Message) -> None:
        await edits.put((before, after))

    async def on_message(message: discord.Message) -> None:
        arrived.set()

    def configure(bot: SandboxTestBot) -> None:
        bot.add_listener(on_edit, "on_message_edit")
        bot.add_listener(on_message, "on_message")

    await start_bot(configure)
    state = discord_sandbox.discord
    waiting = state.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="(Waiting to start)"
    )
    await asyncio.wait_for(arrived.wait(), 2)

    state.edit_message(
        discord_sandbox.channel_id,
        waiting["id"],
        content="(46%) (fast)",
        files=[SandboxFile("x_grid_0.webp", b"webp", "image/webp", 512, 512)],
    )
    before, after = await asyncio.wait_for(edits.get(), 2)

    assert before.content == "(Waiting to start)"
    assert after.content == "(46%) (fast)"
    assert after.attachments[0].filename == "x_grid_0.webp"


async def test_slash_command_with_attachment_defer_and_followup(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    @app_commands.command(name="describe", description="Describe an image")
    async def describe(
        interaction: discord.Interaction, image: discord.Attachment, note: str
    ) -> None:
        await interaction.response.defer(thinking=True)
        data = await image.read()
        reply = discord.File(io.BytesIO(data[::-1]), "reversed.bin")
        await interaction.followup.send(f"{image.filename}: {len(data)} bytes, {note}", file=reply)

    await start_bot(lambda bot: add_guild_commands(bot, discord_sandbox, describe))

    async with discord_sandbox.user() as user:
        interaction_id = await user.run_slash_command(
            "describe", {"note": "hello"}, {"image": ("photo.png", b"abcdef")}
        )
        success = await user.wait_for_event(
            "INTERACTION_SUCCESS", lambda d: d["id"] == interaction_id
        )
        reply = await user.wait_for_message(lambda m: "6 bytes" in m["content"])

        assert success["nonce"]
        assert reply["content"] == "photo.png: 6 bytes, hello"
        assert reply["flags"] & (1 << 7) == 0  # the loading state has ended
        assert reply["interaction_metadata"]["id"] == interaction_id
        assert await user.download(reply["attachments"][0]["url"]) == b"fedcba"
        loading_ids = [m["id"] for m in user.messages.values() if m["type"] == 20]
        assert loading_ids == [reply["id"]]


async def test_unanswered_interaction_fails_for_user(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    @app_commands.command(name="silent", description="Never answers")
    async def silent(interaction: discord.Interaction) -> None:
        return None

    await start_bot(lambda bot: add_guild_commands(bot, discord_sandbox, silent))

    async with discord_sandbox.user() as user:
        interaction_id = await user.run_slash_command("silent")
        failure = await user.wait_for_event(
            "INTERACTION_FAILURE", lambda d: d["id"] == interaction_id
        )

    assert failure["reason_code"] == 2


async def test_ephemeral_reply_reaches_only_user(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    @app_commands.command(name="status", description="Batch status")
    async def status(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("no batch running", ephemeral=True)

    await start_bot(lambda bot: add_guild_commands(bot, discord_sandbox, status))

    async with discord_sandbox.user() as user:
        await user.run_slash_command("status")
        reply = await user.wait_for_message(lambda m: m["content"] == "no batch running")
        history = await user.history()

    assert reply["flags"] & 64
    assert reply in user.ephemeral_messages()
    assert reply["id"] not in [m["id"] for m in history]


class ConfirmView(discord.ui.View):
    @discord.ui.button(label="Run", custom_id="batch::confirm", style=discord.ButtonStyle.success)
    async def confirm(
        self, interaction: discord.Interaction, button: discord.ui.Button[ConfirmView]
    ) -> None:
        await interaction.response.edit_message(content="Batch started", view=None)


async def test_button_click_reaches_bot_view(discord_sandbox: Sandbox, start_bot: StartBot) -> None:
    bot = await start_bot()
    channel = bot.get_channel(int(discord_sandbox.channel_id))
    assert isinstance(channel, discord.TextChannel)
    prompt = await channel.send("Run this sheet?", view=ConfirmView(timeout=None))

    async with discord_sandbox.user() as user:
        await user.click_button(str(prompt.id), "batch::confirm")
        updated = await user.wait_for_message(
            lambda m: m["id"] == str(prompt.id) and m["content"] == "Batch started"
        )

    assert updated["components"] == []


async def test_reconnect_resumes_session(discord_sandbox: Sandbox, start_bot: StartBot) -> None:
    resumed = asyncio.Event()
    received: asyncio.Queue[discord.Message] = asyncio.Queue()

    async def on_resumed() -> None:
        resumed.set()

    def configure(bot: SandboxTestBot) -> None:
        bot.add_listener(on_resumed, "on_resumed")
        bot.add_listener(received.put, "on_message")

    bot = await start_bot(configure)
    session_before = bot.ws.session_id

    discord_sandbox.discord.reconnect_sessions(discord_sandbox.bot_user_id)
    discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="during"
    )
    await asyncio.wait_for(resumed.wait(), 3)

    assert bot.ws.session_id == session_before
    assert (await asyncio.wait_for(received.get(), 2)).content == "during"


async def test_invalid_session_makes_bot_identify_again(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    connected = asyncio.Event()

    async def on_connect() -> None:
        connected.set()

    bot = await start_bot(lambda b: b.add_listener(on_connect, "on_connect"))
    session_before = bot.ws.session_id
    connected.clear()

    discord_sandbox.discord.invalidate_sessions(discord_sandbox.bot_user_id)
    await asyncio.wait_for(connected.wait(), 3)

    assert bot.ws.session_id != session_before
    assert bot.ws.session_id in discord_sandbox.discord.gateway.sessions
    assert session_before not in discord_sandbox.discord.gateway.sessions


async def test_dropped_connection_resumes(discord_sandbox: Sandbox, start_bot: StartBot) -> None:
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot = await start_bot(lambda b: b.add_listener(on_resumed, "on_resumed"))
    discord_sandbox.discord.drop_connections(discord_sandbox.bot_user_id)

    await asyncio.wait_for(resumed.wait(), 3)
    assert bot.is_ready()


async def test_rate_limited_send_is_retried(discord_sandbox: Sandbox, start_bot: StartBot) -> None:
    bot = await start_bot()
    channel = bot.get_channel(int(discord_sandbox.channel_id))
    assert isinstance(channel, discord.TextChannel)
    discord_sandbox.discord.rate_limit_next(
        2, method="POST", route="/channels/{channel_id}/messages", retry_after=0.05
    )

    sent = await channel.send("after two 429s")

    assert sent.content == "after two 429s"
    assert discord_sandbox.discord.get_message(discord_sandbox.channel_id, str(sent.id)) is not None


async def test_bot_without_message_content_sees_empty_text(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    received: asyncio.Queue[discord.Message] = asyncio.Queue()
    intents = discord.Intents.default()
    intents.message_content = False
    await start_bot(lambda b: b.add_listener(received.put, "on_message"), intents=intents)

    discord_sandbox.discord.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content="**secret prompt**",
        files=[SandboxFile("grid.png", b"png")],
    )
    message = await asyncio.wait_for(received.get(), 2)

    assert message.content == ""
    assert message.attachments == []


async def test_user_actor_and_bot_share_channel(
    discord_sandbox: Sandbox, start_bot: StartBot
) -> None:
    received: asyncio.Queue[discord.Message] = asyncio.Queue()
    await start_bot(lambda b: b.add_listener(received.put, "on_message"))

    async with discord_sandbox.user() as user:
        assert isinstance(user, SandboxUser)
        await user.send_message("sheet attached", [("prompts.csv", b"prompt\ncat\n")])
        message = await asyncio.wait_for(received.get(), 2)

    assert message.author.id == int(discord_sandbox.user_id)
    assert message.attachments[0].filename == "prompts.csv"
    assert await message.attachments[0].read() == b"prompt\ncat\n"
