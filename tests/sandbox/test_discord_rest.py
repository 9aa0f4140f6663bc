"""The sandbox REST API, spoken to with plain aiohttp requests."""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp
import pytest

from sandbox.discord.applications import SandboxFile
from sandbox.server import Sandbox

MIDJOURNEY_BOT_ID = "936929561302675456"


def bot_headers(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": f"Bot {sandbox.bot_token}"}


def user_headers(sandbox: Sandbox) -> dict[str, str]:
    return {"Authorization": sandbox.user_token}


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with http.request(method, url, headers=headers, **kwargs) as response:
        text = await response.text()
        return response.status, (json.loads(text) if text else None), response


@pytest.mark.parametrize("version", ["v9", "v10"])
async def test_users_me_for_bot_and_user(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession, version: str
) -> None:
    base = f"{discord_sandbox.base_url}/api/{version}"

    status, bot, response = await call(
        http, "GET", f"{base}/users/@me", bot_headers(discord_sandbox)
    )
    assert status == 200
    assert response.headers["Content-Type"] == "application/json"
    assert bot["id"] == discord_sandbox.bot_user_id
    assert bot["bot"] is True

    status, user, _ = await call(http, "GET", f"{base}/users/@me", user_headers(discord_sandbox))
    assert status == 200
    assert user["id"] == discord_sandbox.user_id
    assert user["bot"] is False


async def test_bad_tokens_are_401(discord_sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    url = f"{discord_sandbox.api_base}/users/@me"
    for headers in (
        {"Authorization": "Bot wrong"},
        {"Authorization": discord_sandbox.bot_token},  # a bot token without "Bot "
        {"Authorization": f"Bot {discord_sandbox.user_token}"},
        {},
    ):
        status, body, _ = await call(http, "GET", url, headers)
        assert status == 401, headers
        assert body == {"message": "401: Unauthorized", "code": 0}


async def test_long_content_is_form_error(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    status, body, _ = await call(
        http, "POST", url, bot_headers(discord_sandbox), json={"content": "x" * 2001}
    )
    assert status == 400
    assert body["code"] == 50035
    assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"


async def test_empty_message_is_rejected(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    status, body, _ = await call(http, "POST", url, bot_headers(discord_sandbox), json={})
    assert status == 400
    assert body["code"] == 50006


async def test_unknown_message_and_channel(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    base = discord_sandbox.api_base
    status, body, _ = await call(
        http,
        "GET",
        f"{base}/channels/{discord_sandbox.channel_id}/messages/1",
        bot_headers(discord_sandbox),
    )
    assert (status, body["code"]) == (404, 10008)
    status, body, _ = await call(
        http, "GET", f"{base}/channels/1/messages", bot_headers(discord_sandbox)
    )
    assert (status, body["code"]) == (404, 10003)


async def test_history_pages_newest_first(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    state = discord_sandbox.discord
    ids = [
        state.post_message(discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content=f"m{i}")["id"]
        for i in range(7)
    ]
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    headers = user_headers(discord_sandbox)

    _, newest, _ = await call(http, "GET", url, headers, params={"limit": "3"})
    assert [m["id"] for m in newest] == ids[6:3:-1]

    _, older, _ = await call(http, "GET", url, headers, params={"limit": "3", "before": ids[4]})
    assert [m["id"] for m in older] == ids[3:0:-1]

    _, after, _ = await call(http, "GET", url, headers, params={"limit": "2", "after": ids[1]})
    assert [m["id"] for m in after] == [ids[3], ids[2]]

    status, body, _ = await call(http, "GET", url, headers, params={"limit": "101"})
    assert (status, body["code"]) == (400, 50035)


async def test_rate_limit_knob_answers_429_then_passes(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    discord_sandbox.discord.rate_limit_next(2, method="GET", route="/users/@me", retry_after=0.25)
    url = f"{discord_sandbox.api_base}/users/@me"
    for _ in range(2):
        status, body, response = await call(http, "GET", url, bot_headers(discord_sandbox))
        assert status == 429
        assert body["retry_after"] == 0.25
        assert body["global"] is False
        assert response.headers["Via"]
        assert response.headers["Content-Type"] == "application/json"

    status, _, _ = await call(http, "GET", url, bot_headers(discord_sandbox))
    assert status == 200


async def test_request_log_records_each_api_request_with_its_status(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    discord_sandbox.discord.rate_limit_next(1, method="GET", route="/users/@me", retry_after=0.1)
    url = f"{discord_sandbox.api_base}/users/@me"
    for _ in range(2):
        await call(http, "GET", url, bot_headers(discord_sandbox))
    await call(http, "GET", url, {})

    records = discord_sandbox.discord.requests.matching(method="GET", route="/users/@me")
    assert [record.status for record in records] == [429, 200, 401]
    assert records[0].at <= records[1].at <= records[2].at


async def test_aged_links_arrive_expired_and_refresh_gives_a_valid_one(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    state = discord_sandbox.discord
    state.cdn.link_age_seconds = 2 * state.cdn.ttl_seconds
    message = state.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        files=[SandboxFile("grid.png", b"png-bytes", "image/png", 4, 4)],
    )
    url = message["attachments"][0]["url"]
    async with http.get(url) as response:
        assert response.status == 404

    refreshed = state.cdn.refresh(url)
    assert refreshed is not None
    async with http.get(refreshed) as response:
        assert await response.read() == b"png-bytes"


async def test_signed_url_expires_and_refresh_restores(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    state = discord_sandbox.discord
    message = state.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content="grid",
        files=[SandboxFile("grid.png", b"png-bytes", "image/png", 4, 4)],
    )
    url = message["attachments"][0]["url"]
    async with http.get(url) as response:
        assert response.status == 200

    issued_at = time.time()
    state.cdn.clock = lambda: issued_at + 2 * 86400
    async with http.get(url) as response:
        assert response.status == 404

    refresh_url = f"{discord_sandbox.api_base}/attachments/refresh-urls"
    bare = url.split("?")[0]
    status, body, _ = await call(
        http, "POST", refresh_url, user_headers(discord_sandbox), json={"attachment_urls": [bare]}
    )
    assert status == 200
    assert body["refreshed_urls"][0]["original"] == bare
    async with http.get(body["refreshed_urls"][0]["refreshed"]) as response:
        assert response.status == 200
        assert await response.read() == b"png-bytes"


async def test_tampered_signature_is_forbidden(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    message = discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, files=[SandboxFile("a.png", b"a")]
    )
    url = message["attachments"][0]["url"]
    async with http.get(url.replace("hm=", "hm=0")) as response:
        assert response.status == 403
    async with http.get(url.split("?")[0]) as response:
        assert response.status == 404


async def test_proxy_url_serves_same_bytes(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    message = discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, files=[SandboxFile("my pic.png", b"pic")]
    )
    attachment = message["attachments"][0]
    assert attachment["filename"] == "my_pic.png"
    assert attachment["content_type"] == "image/png"
    assert "/media/attachments/" in attachment["proxy_url"]
    async with http.get(attachment["proxy_url"]) as response:
        assert await response.read() == b"pic"
        assert response.headers["Content-Type"] == "image/png"


async def test_editing_others_message_is_forbidden(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    message = discord_sandbox.discord.post_message(
        discord_sandbox.channel_id, MIDJOURNEY_BOT_ID, content="mine"
    )
    url = (
        f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages/{message['id']}"
    )
    status, body, _ = await call(
        http, "PATCH", url, bot_headers(discord_sandbox), json={"content": "x"}
    )
    assert (status, body["code"]) == (403, 50005)
    status, body, _ = await call(http, "DELETE", url, bot_headers(discord_sandbox))
    assert (status, body["code"]) == (403, 50013)


async def test_command_sync_keeps_ids_and_bumps_versions(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{discord_sandbox.api_base}/applications/{discord_sandbox.bot_user_id}/commands"
    command = {"name": "batch", "description": "Run a sheet", "type": 1, "options": []}

    status, first, _ = await call(http, "PUT", url, bot_headers(discord_sandbox), json=[command])
    assert status == 200
    assert first[0]["application_id"] == discord_sandbox.bot_user_id
    assert first[0]["id"]

    _, same, _ = await call(http, "PUT", url, bot_headers(discord_sandbox), json=[command])
    assert same[0]["id"] == first[0]["id"]
    assert same[0]["version"] == first[0]["version"]

    changed = command | {"description": "Run a prompt sheet"}
    _, bumped, _ = await call(http, "PUT", url, bot_headers(discord_sandbox), json=[changed])
    assert bumped[0]["id"] == first[0]["id"]
    assert bumped[0]["version"] != first[0]["version"]


async def test_command_sync_rejects_bad_name(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{discord_sandbox.api_base}/applications/{discord_sandbox.bot_user_id}/commands"
    bad = [{"name": "Has Spaces", "description": "x", "type": 1}]
    status, body, _ = await call(http, "PUT", url, bot_headers(discord_sandbox), json=bad)
    assert (status, body["code"]) == (400, 50035)
    assert "name" in body["errors"]["0"]


async def test_multipart_message_stores_files(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData(quote_fields=False)
    payload = {"content": "report", "attachments": [{"id": 0, "filename": "report.xlsx"}]}
    form.add_field("payload_json", json.dumps(payload))
    form.add_field(
        "files[0]", b"xlsx-bytes", filename="report.xlsx", content_type="application/octet-stream"
    )
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"

    status, message, _ = await call(http, "POST", url, bot_headers(discord_sandbox), data=form)

    assert status == 200
    attachment = message["attachments"][0]
    assert attachment["filename"] == "report.xlsx"
    assert attachment["size"] == len(b"xlsx-bytes")
    assert attachment["content_type"].startswith("application/vnd.openxmlformats")
    async with http.get(attachment["url"]) as response:
        assert await response.read() == b"xlsx-bytes"


async def test_upload_over_limit_is_413(http: aiohttp.ClientSession) -> None:
    async with Sandbox(midjourney=False, upload_limit_bytes=1024) as sandbox:
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("payload_json", json.dumps({"content": "big"}))
        form.add_field("files[0]", b"x" * 2048, filename="big.zip")
        url = f"{sandbox.api_base}/channels/{sandbox.channel_id}/messages"
        status, body, _ = await call(http, "POST", url, bot_headers(sandbox), data=form)
    assert (status, body["code"]) == (413, 40005)


async def test_enforce_nonce_returns_same_message(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    body = {"content": "once", "nonce": "12345", "enforce_nonce": True}
    _, first, _ = await call(http, "POST", url, bot_headers(discord_sandbox), json=body)
    _, second, _ = await call(http, "POST", url, bot_headers(discord_sandbox), json=body)
    assert second["id"] == first["id"]
    assert first["nonce"] == "12345"


async def test_ephemeral_messages_stay_out_of_history(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    state = discord_sandbox.discord
    secret = state.post_message(
        discord_sandbox.channel_id,
        MIDJOURNEY_BOT_ID,
        content="psst",
        ephemeral_to=discord_sandbox.user_id,
    )
    assert secret["flags"] & 64
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    _, history, _ = await call(http, "GET", url, user_headers(discord_sandbox))
    assert secret["id"] not in [m["id"] for m in history]
    status, _, _ = await call(http, "GET", f"{url}/{secret['id']}", user_headers(discord_sandbox))
    assert status == 404


async def test_unknown_api_route_is_json_404(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, body, response = await call(
        http, "GET", f"{discord_sandbox.api_base}/no/such/route", bot_headers(discord_sandbox)
    )
    assert status == 404
    assert body["code"] == 0
    assert response.headers["Content-Type"] == "application/json"
