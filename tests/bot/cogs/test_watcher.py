import asyncio
from dataclasses import replace
from typing import Any

from bot.client import MidjauBot
from midjourney.messages import (
    MIDJOURNEY_BOT_ID,
    ChannelMessage,
    EventSource,
    MessageCreated,
    MessageDeleted,
    MessageUpdated,
)
from sandbox.actor import SandboxUser
from sandbox.discord.applications import SandboxFile
from sandbox.server import Sandbox
from tests.bot.conftest import RecordingEngine

GRID_BUTTONS = [
    {
        "type": 1,
        "components": [
            {"type": 2, "style": 2, "label": f"U{n}", "custom_id": f"MJ::JOB::upsample::{n}::abc"}
            for n in (1, 2, 3, 4)
        ],
    },
    {
        "type": 1,
        "components": [
            {
                "type": 2,
                "style": 2,
                "emoji": {"name": "🔄"},
                "custom_id": "MJ::JOB::reroll::0::abc",
            },
            {"type": 2, "style": 5, "label": "Web", "url": "https://www.midjourney.com/jobs/abc"},
        ],
    },
]


def without_time(message: ChannelMessage) -> ChannelMessage:
    return replace(message, timestamp=None)


async def next_event(engine: RecordingEngine, count: int) -> Any:
    async with asyncio.timeout(5):
        while len(engine.channel_events) < count:
            engine.channel_event_arrived.clear()
            await engine.channel_event_arrived.wait()
    return engine.channel_events[count - 1]


async def test_midjourney_message_reaches_engine_field_by_field(
    bot: MidjauBot, sandbox: Sandbox, engine: RecordingEngine
) -> None:
    user_message = sandbox.discord.post_message(sandbox.channel_id, sandbox.user_id, content="hi")
    posted = sandbox.discord.post_message(
        sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content=f"**a red fox --ar 3:2** - <@{sandbox.user_id}> (fast)",
        embeds=[{"title": "Job queued", "description": "Your job is queued.", "color": 0xFF0000}],
        components=GRID_BUTTONS,
        files=[SandboxFile("grid_abc.png", b"\x89PNG fake", "image/png", 64, 32)],
        nonce="1234567890",
        reference_id=user_message["id"],
        interaction={"id": "555", "name": "imagine", "type": 2, "user_id": sandbox.user_id},
    )

    event = await next_event(engine, 1)

    assert isinstance(event, MessageCreated)
    assert event.source is EventSource.BOT
    assert without_time(event.message) == without_time(ChannelMessage.from_payload(posted))
    assert [button.label for button in event.message.buttons[:4]] == ["U1", "U2", "U3", "U4"]
    assert event.message.buttons[4].emoji == "🔄"
    assert event.message.buttons[5].url == "https://www.midjourney.com/jobs/abc"
    assert event.message.attachments[0].width == 64
    assert event.message.reference_id == user_message["id"]
    assert event.message.interaction_id == "555"
    assert event.message.interaction_user_id == sandbox.user_id
    assert event.message.embeds[0].title == "Job queued"
    assert len(engine.channel_events) == 1  # the user's own message was not forwarded


async def test_midjourney_edit_and_delete_reach_engine(
    bot: MidjauBot, sandbox: Sandbox, engine: RecordingEngine
) -> None:
    posted = sandbox.discord.post_message(
        sandbox.channel_id, MIDJOURNEY_BOT_ID, content="**a red fox** - (Waiting to start)"
    )
    await next_event(engine, 1)

    sandbox.discord.edit_message(
        sandbox.channel_id, posted["id"], content="**a red fox** - (42%) (fast)"
    )
    edited = await next_event(engine, 2)
    sandbox.discord.delete_message(sandbox.channel_id, posted["id"])
    deleted = await next_event(engine, 3)

    assert isinstance(edited, MessageUpdated)
    assert edited.message.id == posted["id"]
    assert edited.message.content == "**a red fox** - (42%) (fast)"
    assert edited.message.guild_id == sandbox.guild_id
    assert edited.source is EventSource.BOT
    assert deleted == MessageDeleted(posted["id"], sandbox.channel_id, EventSource.BOT)


async def test_other_authors_are_not_forwarded(
    bot: MidjauBot, sandbox: Sandbox, engine: RecordingEngine, user: SandboxUser
) -> None:
    mine = await user.send_message("a message of mine")
    sandbox.discord.edit_message(sandbox.channel_id, mine["id"], content="edited")
    sandbox.discord.post_message(sandbox.channel_id, MIDJOURNEY_BOT_ID, content="marker")

    event = await next_event(engine, 1)

    assert isinstance(event, MessageCreated)
    assert event.message.content == "marker"
    assert len(engine.channel_events) == 1
