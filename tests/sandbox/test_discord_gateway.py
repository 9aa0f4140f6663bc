"""The sandbox gateway, spoken to with a raw websocket client."""

from __future__ import annotations

import aiohttp

from sandbox.server import Sandbox
from tests.sandbox.discord_harness import ALL_BUT_MESSAGE_CONTENT, WITH_MESSAGE_CONTENT, RawGateway

MIDJOURNEY_BOT_ID = "936929561302675456"


async def test_identify_sends_ready_and_guild_create(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    hello = await gateway.connect()
    assert hello["op"] == 10
    assert hello["d"]["heartbeat_interval"] > 0

    ready = await gateway.identify(discord_sandbox.bot_token, WITH_MESSAGE_CONTENT)
    assert ready["s"] == 1
    assert ready["d"]["user"]["id"] == discord_sandbox.bot_user_id
    assert ready["d"]["session_id"]
    assert ready["d"]["resume_gateway_url"] == discord_sandbox.gateway_url
    assert ready["d"]["guilds"] == [{"id": discord_sandbox.guild_id, "unavailable": True}]

    guild = (await gateway.wait_for("GUILD_CREATE"))["d"]
    assert guild["name"] == "MidJAu Sandbox"
    assert {c["name"]: (c["type"], c["position"]) for c in guild["channels"]} == {
        "prompts": (0, 0),
        "general": (0, 1),
    }
    members = {m["user"]["id"]: m for m in guild["members"]}
    assert set(members) == {discord_sandbox.user_id, discord_sandbox.bot_user_id, MIDJOURNEY_BOT_ID}
    assert all(m["flags"] == 0 and m["roles"] == [] for m in members.values())
    assert members[MIDJOURNEY_BOT_ID]["user"]["username"] == "Midjourney Bot"
    assert guild["member_count"] == 3
    assert guild["roles"][0]["id"] == discord_sandbox.guild_id
    await gateway.close()


async def test_heartbeat_is_acknowledged(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.send(1, None)
    assert (await gateway.receive())["op"] == 11
    await gateway.close()


async def test_bad_token_closes_with_4004(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.send(2, {"token": "nope", "intents": 1, "properties": {}})
    closed = await gateway.receive()
    assert closed["closed"] == 4004


async def test_resume_replays_missed_dispatches(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    ready = await gateway.identify(discord_sandbox.user_token)
    guild_create = await gateway.wait_for("GUILD_CREATE")
    await gateway.close(code=4000)

    missed = discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="while you were away"
    )

    again = RawGateway(http, ready["d"]["resume_gateway_url"])
    await again.connect()
    resume = {
        "token": discord_sandbox.user_token,
        "session_id": ready["d"]["session_id"],
        "seq": guild_create["s"],
    }
    await again.send(6, resume)
    replayed = await again.wait_for("MESSAGE_CREATE")
    assert replayed["d"]["id"] == missed["id"]
    assert replayed["s"] == guild_create["s"] + 1
    assert (await again.wait_for("RESUMED"))["s"] == guild_create["s"] + 2
    await again.close()


async def test_resume_of_unknown_session_is_invalid(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.send(6, {"token": discord_sandbox.user_token, "session_id": "gone", "seq": 3})
    assert await gateway.receive() == {"op": 9, "d": False}
    await gateway.close()


async def test_reconnect_knob_sends_op_7(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.identify(discord_sandbox.user_token)
    await gateway.wait_for("GUILD_CREATE")

    assert discord_sandbox.discord.reconnect_sessions(discord_sandbox.user_id) == 1

    assert (await gateway.receive())["op"] == 7
    assert (await gateway.receive())["closed"] == 4000


async def test_bot_without_message_content_gets_blanked_messages(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.identify(discord_sandbox.bot_token, ALL_BUT_MESSAGE_CONTENT)
    await gateway.wait_for("GUILD_CREATE")
    state = discord_sandbox.discord
    grid = {"type": 1, "components": [{"type": 2, "style": 2, "label": "U1", "custom_id": "u1"}]}

    state.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="**cat** (fast)", components=[grid]
    )
    blanked = (await gateway.wait_for("MESSAGE_CREATE"))["d"]
    assert blanked["content"] == ""
    assert blanked["components"] == []
    assert blanked["attachments"] == []
    assert blanked["author"]["id"] == MIDJOURNEY_BOT_ID

    state.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content=f"hey <@{discord_sandbox.bot_user_id}>",
    )
    mentioned = (await gateway.wait_for("MESSAGE_CREATE"))["d"]
    assert mentioned["content"] == f"hey <@{discord_sandbox.bot_user_id}>"

    state.post_message(discord_sandbox.channel_id, discord_sandbox.bot_user_id, content="my own")
    own = (await gateway.wait_for("MESSAGE_CREATE"))["d"]
    assert own["content"] == "my own"
    await gateway.close()


async def test_bot_with_message_content_reads_everything(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.identify(discord_sandbox.bot_token, WITH_MESSAGE_CONTENT)
    await gateway.wait_for("GUILD_CREATE")

    discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="**cat**"
    )

    message = (await gateway.wait_for("MESSAGE_CREATE"))["d"]
    assert message["content"] == "**cat**"
    assert message["guild_id"] == discord_sandbox.guild_id
    await gateway.close()


async def test_ephemeral_message_reaches_only_its_user(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    user = RawGateway(http, discord_sandbox.gateway_url)
    await user.connect()
    await user.identify(discord_sandbox.user_token)
    await user.wait_for("GUILD_CREATE")
    bot = RawGateway(http, discord_sandbox.gateway_url)
    await bot.connect()
    await bot.identify(discord_sandbox.bot_token, WITH_MESSAGE_CONTENT)
    await bot.wait_for("GUILD_CREATE")

    discord_sandbox.discord.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content="Action needed to continue",
        ephemeral_to=discord_sandbox.user_id,
    )

    seen = (await user.wait_for("MESSAGE_CREATE"))["d"]
    assert seen["content"] == "Action needed to continue"
    assert seen["flags"] & 64
    assert await bot.quiet_for(0.1) == []
    await user.close()
    await bot.close()


async def test_member_request_gets_one_chunk(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    await gateway.identify(discord_sandbox.bot_token, WITH_MESSAGE_CONTENT | (1 << 1))
    await gateway.wait_for("GUILD_CREATE")

    request = {"guild_id": discord_sandbox.guild_id, "query": "", "limit": 0, "nonce": "n1"}
    await gateway.send(8, request)

    chunk = (await gateway.wait_for("GUILD_MEMBERS_CHUNK"))["d"]
    assert chunk["nonce"] == "n1"
    assert (chunk["chunk_index"], chunk["chunk_count"]) == (0, 1)
    assert len(chunk["members"]) == 3
    await gateway.close()


async def test_clean_close_ends_session(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    gateway = RawGateway(http, discord_sandbox.gateway_url)
    await gateway.connect()
    ready = await gateway.identify(discord_sandbox.user_token)
    await gateway.close(code=1000)

    again = RawGateway(http, discord_sandbox.gateway_url)
    await again.connect()
    resume = {"token": discord_sandbox.user_token, "session_id": ready["d"]["session_id"], "seq": 1}
    await again.send(6, resume)

    assert await again.receive() == {"op": 9, "d": False}
    await again.close()
