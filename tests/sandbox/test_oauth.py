"""The sandbox's OAuth2 authorization code grant, spoken to over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from yarl import URL

from sandbox.discord.world import Account
from sandbox.server import Sandbox

REDIRECT_URI = "http://127.0.0.1:9/login/discord/callback"


def authorize_query(sandbox: Sandbox, **changes: str) -> dict[str, str]:
    query = {
        "client_id": sandbox.settings.oauth_client_id,
        "redirect_uri": REDIRECT_URI,
        "response_type": "code",
        "scope": "identify email",
        "state": "state-123",
        "prompt": "consent",
    }
    return query | changes


async def authorize(
    http: aiohttp.ClientSession, sandbox: Sandbox, path: str = "/oauth2/authorize", **changes: str
) -> tuple[int, URL | None, str]:
    """Open the authorize page without following its redirect; return status and Location."""
    url = URL(sandbox.base_url + path).with_query(authorize_query(sandbox, **changes))
    async with http.get(url, allow_redirects=False) as response:
        location = response.headers.get("Location")
        return response.status, URL(location) if location else None, await response.text()


def token_form(sandbox: Sandbox, code: str, /, **changes: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": sandbox.settings.oauth_client_id,
        "client_secret": sandbox.settings.oauth_client_secret,
    }
    return form | changes


async def post_token(
    http: aiohttp.ClientSession, sandbox: Sandbox, form: dict[str, str], **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{sandbox.api_base}/oauth2/token", data=form, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def get_me(
    http: aiohttp.ClientSession, sandbox: Sandbox, access_token: str, prefix: str = "/api/v10"
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with http.get(f"{sandbox.base_url}{prefix}/users/@me", headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def fresh_code(http: aiohttp.ClientSession, sandbox: Sandbox, **changes: str) -> str:
    status, location, _ = await authorize(http, sandbox, **changes)
    assert status == 302
    assert location is not None
    return location.query["code"]


@pytest.mark.parametrize("path", ["/oauth2/authorize", "/api/oauth2/authorize"])
async def test_authorize_redirects_with_code_and_state(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession, path: str
) -> None:
    status, location, _ = await authorize(http, discord_sandbox, path)

    assert status == 302
    assert location is not None
    assert str(location.with_query(None)) == REDIRECT_URI
    assert location.query["state"] == "state-123"
    assert len(location.query["code"]) >= 20


async def test_code_exchange_returns_bearer_token(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code = await fresh_code(http, discord_sandbox)

    status, body = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))

    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == discord_sandbox.settings.oauth_token_ttl_seconds
    assert body["scope"] == "identify email"
    assert body["access_token"]
    assert body["refresh_token"]


@pytest.mark.parametrize("prefix", ["/api", "/api/v10"])
async def test_bearer_token_reads_users_me(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession, prefix: str
) -> None:
    code = await fresh_code(http, discord_sandbox)
    _, tokens = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))

    status, me = await get_me(http, discord_sandbox, tokens["access_token"], prefix)

    assert status == 200
    assert me["id"] == discord_sandbox.user_id
    assert me["username"] == discord_sandbox.settings.user_name
    assert me["email"] == f"{discord_sandbox.settings.user_name}@sandbox.invalid"
    assert me["verified"] is True
    assert "global_name" in me
    assert "avatar" in me


async def test_identify_scope_hides_email(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code = await fresh_code(http, discord_sandbox, scope="identify")
    _, tokens = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))

    status, me = await get_me(http, discord_sandbox, tokens["access_token"])

    assert status == 200
    assert me["id"] == discord_sandbox.user_id
    assert "email" not in me
    assert "verified" not in me


async def test_code_works_only_once(discord_sandbox: Sandbox, http: aiohttp.ClientSession) -> None:
    code = await fresh_code(http, discord_sandbox)
    form = token_form(discord_sandbox, code)
    first_status, first = await post_token(http, discord_sandbox, form)

    second_status, second = await post_token(http, discord_sandbox, form)

    assert first_status == 200
    assert second_status == 400
    assert second["error"] == "invalid_grant"
    # A replayed code revokes the tokens it gave, as a stolen code might have been used first.
    status, _ = await get_me(http, discord_sandbox, first["access_token"])
    assert status == 401


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"code": "no-such-code"}, 400, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, 400, "invalid_grant"),
        ({"client_secret": "wrong-secret"}, 401, "invalid_client"),
        ({"client_id": "1234"}, 401, "invalid_client"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
    ],
)
async def test_token_request_rejected(
    discord_sandbox: Sandbox,
    http: aiohttp.ClientSession,
    changes: dict[str, str],
    status: int,
    error: str,
) -> None:
    code = await fresh_code(http, discord_sandbox)

    answered, body = await post_token(
        http, discord_sandbox, token_form(discord_sandbox, code, **changes)
    )

    assert answered == status
    assert body["error"] == error
    assert "access_token" not in body


async def test_expired_code_is_invalid_grant(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    discord_sandbox.settings.oauth_code_ttl_seconds = 0.001
    code = await fresh_code(http, discord_sandbox)
    await asyncio.sleep(0.01)

    status, body = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))

    assert status == 400
    assert body["error"] == "invalid_grant"


async def test_basic_auth_client_credentials(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code = await fresh_code(http, discord_sandbox)
    form = token_form(discord_sandbox, code)
    basic = aiohttp.encode_basic_auth(form.pop("client_id"), form.pop("client_secret"))

    status, body = await post_token(http, discord_sandbox, form, headers={"Authorization": basic})

    assert status == 200
    assert body["token_type"] == "Bearer"


async def test_refresh_token_replaces_access_token(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code = await fresh_code(http, discord_sandbox)
    _, first = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": discord_sandbox.settings.oauth_client_id,
        "client_secret": discord_sandbox.settings.oauth_client_secret,
    }

    status, second = await post_token(http, discord_sandbox, form)

    assert status == 200
    assert second["access_token"] != first["access_token"]
    assert (await get_me(http, discord_sandbox, first["access_token"]))[0] == 401
    assert (await get_me(http, discord_sandbox, second["access_token"]))[0] == 200


async def test_bearer_token_cannot_send_messages(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    code = await fresh_code(http, discord_sandbox)
    _, tokens = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))
    url = f"{discord_sandbox.api_base}/channels/{discord_sandbox.channel_id}/messages"
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}

    async with http.post(url, json={"content": "hi"}, headers=headers) as response:
        assert response.status == 401


async def test_unknown_bearer_token_is_401(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, _ = await get_me(http, discord_sandbox, "not-a-token")

    assert status == 401


async def test_sandbox_user_hook_authorizes_another_account(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    other = Account(id="1180000000000000555", username="second", global_name="Second")
    discord_sandbox.discord.world.add_member(other)
    code = await fresh_code(http, discord_sandbox, sandbox_user_id=other.id)
    _, tokens = await post_token(http, discord_sandbox, token_form(discord_sandbox, code))

    status, me = await get_me(http, discord_sandbox, tokens["access_token"])

    assert status == 200
    assert me["id"] == other.id
    assert me["email"] == "second@sandbox.invalid"


async def test_sandbox_deny_redirects_access_denied(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession
) -> None:
    status, location, _ = await authorize(http, discord_sandbox, sandbox_deny="1")

    assert status == 302
    assert location is not None
    assert location.query["error"] == "access_denied"
    assert location.query["state"] == "state-123"
    assert "code" not in location.query


@pytest.mark.parametrize(
    ("changes", "error"),
    [({"scope": "identify guilds.join"}, "invalid_scope"), ({"response_type": "token"}, None)],
)
async def test_authorize_redirects_errors(
    discord_sandbox: Sandbox,
    http: aiohttp.ClientSession,
    changes: dict[str, str],
    error: str | None,
) -> None:
    status, location, _ = await authorize(http, discord_sandbox, **changes)

    assert status == 302
    assert location is not None
    assert "code" not in location.query
    assert location.query["error"] == (error or "unsupported_response_type")


@pytest.mark.parametrize(
    "changes",
    [
        {"client_id": "42"},
        {"redirect_uri": "javascript:alert(1)"},
        {"sandbox_user_id": "1180000000000000200"},  # a bot cannot log in
    ],
)
async def test_authorize_rejects_without_redirect(
    discord_sandbox: Sandbox, http: aiohttp.ClientSession, changes: dict[str, str]
) -> None:
    status, location, _ = await authorize(http, discord_sandbox, **changes)

    assert status == 400
    assert location is None


async def test_registered_redirect_uris_are_enforced(http: aiohttp.ClientSession) -> None:
    async with Sandbox(midjourney=False, oauth_redirect_uris=[REDIRECT_URI]) as sandbox:
        allowed, _, _ = await authorize(http, sandbox)
        other, _, _ = await authorize(http, sandbox, redirect_uri="http://127.0.0.1:9/other")

    assert allowed == 302
    assert other == 400
