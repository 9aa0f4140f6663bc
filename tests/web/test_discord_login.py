"""Log in with Discord: the OAuth2 round trip through the sandbox, sign-up, login and linking."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from yarl import URL

from pipeline.engine import Engine
from sandbox.discord.world import Account
from storage.models import ConsentRecord, User, utcnow
from tests.web.site import Site, WebClient, start_site

SECOND_DISCORD_ID = "1180000000000000777"
PASSWORD = "correct horse battery"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(tmp_path, with_bot=False) as running:
        assert running.sandbox is not None
        running.sandbox.discord.world.add_member(
            Account(id=SECOND_DISCORD_ID, username="second", global_name="Second")
        )
        yield running


@pytest.fixture
async def browser(site: Site) -> AsyncIterator[WebClient]:
    async with WebClient(site.base_url) as client:
        yield client


async def callback_from_discord(
    client: WebClient, *, discord_id: str | None = None, path: str = "/login/discord"
) -> str:
    """Start the login on the site and let the sandbox authorize; return the callback URL."""
    async with client.http.get(client.url(path), allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        authorize = URL(response.headers["Location"])
    if discord_id is not None:
        authorize = authorize.update_query(sandbox_user_id=discord_id)
    async with client.http.get(authorize, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        return response.headers["Location"]


async def open_url(client: WebClient, url: str) -> tuple[int, str, str]:
    """GET a URL, following redirects; return status, body and the final path."""
    async with client.http.get(url) as response:
        return response.status, await response.text(), response.url.path


async def accept_welcome(client: WebClient, **fields: str) -> tuple[int, str, str]:
    data = {"age_confirmed": "yes", "terms_accepted": "yes"} | fields
    data = {name: value for name, value in data.items() if value}
    status, html, final_url = await client.post_form("/login/discord/welcome", data)
    return status, html, URL(final_url).path


async def sign_up_with_discord(client: WebClient, discord_id: str | None = None) -> None:
    status, html, path = await open_url(
        client, await callback_from_discord(client, discord_id=discord_id)
    )
    assert (status, path) == (200, "/login/discord/welcome"), html[:500]
    status, html, path = await accept_welcome(client)
    assert path == "/dashboard", html[:500]


async def users_with_discord_id(site: Site, discord_id: str) -> list[User]:
    async with site.db.sessions() as session:
        users = await session.scalars(select(User).where(User.discord_user_id == discord_id))
        return list(users)


async def user_by_email(site: Site, email: str) -> User:
    async with site.db.sessions() as session:
        user = await session.scalar(select(User).where(User.email == email))
    assert user is not None
    return user


async def count_users(site: Site) -> int:
    async with site.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


async def is_logged_in(client: WebClient) -> bool:
    async with client.http.get(client.url("/dashboard")) as response:
        return response.status == 200 and response.url.path == "/dashboard"


async def test_authorize_redirect_carries_oauth_query(site: Site, browser: WebClient) -> None:
    async with browser.http.get(browser.url("/login/discord"), allow_redirects=False) as response:
        location = URL(response.headers["Location"])

    assert site.sandbox is not None
    assert str(location.with_query(None)) == f"{site.sandbox.base_url}/oauth2/authorize"
    assert location.query["client_id"] == site.sandbox.settings.oauth_client_id
    assert location.query["redirect_uri"] == f"{site.base_url}/login/discord/callback"
    assert location.query["response_type"] == "code"
    assert location.query["scope"] == "identify email"
    assert len(location.query["state"]) >= 32


async def test_discord_login_creates_account_after_terms(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    callback = await callback_from_discord(browser)

    status, html, path = await open_url(browser, callback)

    assert (status, path) == (200, "/login/discord/welcome")
    assert "I am 13 or older" in html
    assert await count_users(site) == 0  # nothing is stored before the terms are accepted
    assert not await is_logged_in(browser)

    status, html, path = await accept_welcome(browser)

    assert path == "/dashboard", html[:500]
    [user] = await users_with_discord_id(site, site.sandbox.user_id)
    assert user.terms_version == site.settings.web.terms_version
    assert user.terms_accepted_at is not None
    assert user.age_confirmed_at is not None
    assert user.email == f"{site.sandbox.settings.user_name}@sandbox.invalid"
    assert user.email_verified_at is not None
    assert user.password_hash is None
    assert await is_logged_in(browser)
    async with site.db.sessions() as session:
        consents = list(
            await session.scalars(select(ConsentRecord).where(ConsentRecord.user_id == user.id))
        )
    assert consents == []  # no cookie choice was made, so the banner still asks


async def test_welcome_requires_both_confirmations(site: Site, browser: WebClient) -> None:
    await open_url(browser, await callback_from_discord(browser))

    for missing in ("age_confirmed", "terms_accepted"):
        status, html, path = await accept_welcome(browser, **{missing: ""})

        assert status == 400
        assert path == "/login/discord/welcome"
        assert 'aria-invalid="true"' in html
    assert await count_users(site) == 0


async def test_returning_discord_user_logs_in(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await sign_up_with_discord(browser)

    async with WebClient(site.base_url) as other_browser:
        status, _, path = await open_url(other_browser, await callback_from_discord(other_browser))

        assert (status, path) == (200, "/dashboard")
        assert await is_logged_in(other_browser)
    assert len(await users_with_discord_id(site, site.sandbox.user_id)) == 1
    assert await count_users(site) == 1


async def test_callback_with_wrong_state_rejected(site: Site, browser: WebClient) -> None:
    callback = URL(await callback_from_discord(browser))
    forged = callback.update_query(state="forged-state")

    status, html, _ = await open_url(browser, str(forged))

    assert status == 400
    assert "invalid or has expired" in html
    assert await count_users(site) == 0
    # The state is used up by the failed attempt, so the real callback fails too.
    status, _, _ = await open_url(browser, str(callback))
    assert status == 400


async def test_callback_without_started_login_rejected(site: Site, browser: WebClient) -> None:
    status, html, _ = await open_url(
        browser, f"{site.base_url}/login/discord/callback?code=abc&state=abc"
    )

    assert status == 400
    assert "invalid or has expired" in html


async def test_other_browser_cannot_use_callback(site: Site, browser: WebClient) -> None:
    callback = await callback_from_discord(browser)

    async with WebClient(site.base_url) as attacker:
        status, _, _ = await open_url(attacker, callback)
        assert status == 400
        assert not await is_logged_in(attacker)

    status, _, path = await open_url(browser, callback)
    assert (status, path) == (200, "/login/discord/welcome")


async def test_callback_replay_rejected(site: Site, browser: WebClient) -> None:
    callback = await callback_from_discord(browser)
    await open_url(browser, callback)

    status, _, _ = await open_url(browser, callback)

    assert status == 400


async def test_cancel_on_discord_changes_nothing(site: Site, browser: WebClient) -> None:
    async with browser.http.get(browser.url("/login/discord"), allow_redirects=False) as response:
        authorize = URL(response.headers["Location"]).update_query(sandbox_deny="1")
    async with browser.http.get(authorize, allow_redirects=False) as response:
        callback = response.headers["Location"]

    _, html, path = await open_url(browser, callback)

    assert path == "/login"
    assert "Discord login was cancelled" in html
    assert await count_users(site) == 0


async def test_rejected_code_exchange_shows_friendly_page(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        start_site(tmp_path, with_bot=False, web={"discord_client_secret": "wrong"}) as site,
        WebClient(site.base_url) as browser,
    ):
        callback = await callback_from_discord(browser)
        status, html, _ = await open_url(browser, callback)

        assert status == 502
        assert "Discord did not accept this login" in html
        assert "Traceback" not in html
        assert await count_users(site) == 0
    code = URL(callback).query["code"]
    assert all(code not in record.getMessage() for record in caplog.records)


async def test_logged_in_user_links_discord(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await browser.sign_up_and_log_in(site, "ada@example.com", PASSWORD)
    _, profile = await browser.get("/dashboard/settings")

    _, html, path = await open_url(browser, await callback_from_discord(browser))

    assert 'href="/login/discord">Link your Discord account' in profile
    assert path == "/dashboard/settings"
    assert "is now linked" in html
    assert f"linked to Discord user <strong>{site.sandbox.user_id}</strong>" in html
    user = await user_by_email(site, "ada@example.com")
    assert user.discord_user_id == site.sandbox.user_id
    # Log in with Discord now opens the same account from another browser.
    async with WebClient(site.base_url) as other_browser:
        _, _, path = await open_url(other_browser, await callback_from_discord(other_browser))
        assert path == "/dashboard"
    assert await count_users(site) == 1


async def test_link_follows_next(site: Site, browser: WebClient) -> None:
    await browser.sign_up_and_log_in(site, "ada@example.com", PASSWORD)

    callback = await callback_from_discord(browser, path="/login/discord?next=/dashboard")
    _, _, path = await open_url(browser, callback)

    assert path == "/dashboard"


async def test_discord_id_linked_elsewhere_rejected(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await sign_up_with_discord(browser)
    [owner] = await users_with_discord_id(site, site.sandbox.user_id)

    async with WebClient(site.base_url) as other_browser:
        await other_browser.sign_up_and_log_in(site, "grace@example.com", PASSWORD)
        _, html, _ = await open_url(other_browser, await callback_from_discord(other_browser))

        assert "already linked to another MidJAu account" in html
    grace = await user_by_email(site, "grace@example.com")
    assert grace.discord_user_id is None
    assert [user.id for user in await users_with_discord_id(site, site.sandbox.user_id)] == [
        owner.id
    ]


async def test_linked_account_cannot_link_second_discord(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await browser.sign_up_and_log_in(site, "ada@example.com", PASSWORD)
    await open_url(browser, await callback_from_discord(browser))

    _, html, _ = await open_url(
        browser, await callback_from_discord(browser, discord_id=SECOND_DISCORD_ID)
    )

    assert "already linked to another Discord account" in html
    user = await user_by_email(site, "ada@example.com")
    assert user.discord_user_id == site.sandbox.user_id
    assert await users_with_discord_id(site, SECOND_DISCORD_ID) == []


async def test_unlink_then_link_another_discord(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await browser.sign_up_and_log_in(site, "ada@example.com", PASSWORD)
    await open_url(browser, await callback_from_discord(browser))

    status, html, _ = await browser.post_form(
        "/dashboard/settings/discord/unlink", {}, from_page="/dashboard/settings"
    )
    unlinked = await user_by_email(site, "ada@example.com")
    _, relinked, _ = await open_url(
        browser, await callback_from_discord(browser, discord_id=SECOND_DISCORD_ID)
    )

    assert status == 200
    assert "Discord is unlinked" in html
    assert unlinked.discord_user_id is None
    assert "is now linked" in relinked
    assert (await user_by_email(site, "ada@example.com")).discord_user_id == SECOND_DISCORD_ID


async def test_discord_only_account_cannot_unlink(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await sign_up_with_discord(browser)
    _, profile = await browser.get("/dashboard/settings")

    _, html, _ = await browser.post_form(
        "/dashboard/settings/discord/unlink", {}, from_page="/dashboard/settings"
    )

    assert "/dashboard/settings/discord/unlink" not in profile
    assert "cannot be unlinked until the account has a password" in profile
    assert "This account logs in with Discord" in html
    [user] = await users_with_discord_id(site, site.sandbox.user_id)
    assert user.discord_user_id == site.sandbox.user_id


async def test_bot_made_empty_user_gives_way_to_link(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    engine = site.service.engine
    assert isinstance(engine, Engine)
    bot_made_id = await engine.ensure_user(site.sandbox.user_id, "demo")
    await browser.sign_up_and_log_in(site, "ada@example.com", PASSWORD)

    _, html, _ = await open_url(browser, await callback_from_discord(browser))

    assert "is now linked" in html
    [linked] = await users_with_discord_id(site, site.sandbox.user_id)
    assert linked.email == "ada@example.com"
    assert linked.id != bot_made_id
    async with site.db.sessions() as session:
        assert await session.get(User, bot_made_id) is None


async def test_discord_sign_up_adopts_bot_made_user(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    engine = site.service.engine
    assert isinstance(engine, Engine)
    bot_made_id = await engine.ensure_user(site.sandbox.user_id, "demo")

    await sign_up_with_discord(browser)

    [user] = await users_with_discord_id(site, site.sandbox.user_id)
    assert user.id == bot_made_id  # the batches the bot made stay with the person
    assert user.terms_accepted_at is not None


async def test_existing_email_asks_for_password_login(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    email = f"{site.sandbox.settings.user_name}@sandbox.invalid"
    async with site.db.sessions() as session, session.begin():
        now = utcnow()
        session.add(
            User(email=email, email_verified_at=now, terms_version="1", terms_accepted_at=now)
        )

    _, html, path = await open_url(browser, await callback_from_discord(browser))

    assert path == "/login"
    assert f"An account with the email {email} already exists" in html
    assert await count_users(site) == 1
    assert await users_with_discord_id(site, site.sandbox.user_id) == []


async def test_second_discord_user_gets_own_account(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await sign_up_with_discord(browser)

    async with WebClient(site.base_url) as other_browser:
        await sign_up_with_discord(other_browser, SECOND_DISCORD_ID)

    [first] = await users_with_discord_id(site, site.sandbox.user_id)
    [second] = await users_with_discord_id(site, SECOND_DISCORD_ID)
    assert first.id != second.id
    assert second.email == "second@sandbox.invalid"
    assert second.display_name == "Second"


async def test_discord_login_ignores_next_with_tab(site: Site, browser: WebClient) -> None:
    await sign_up_with_discord(browser)

    async with WebClient(site.base_url) as other_browser:
        callback = await callback_from_discord(
            other_browser, path="/login/discord?next=/%09/evil.example"
        )
        async with other_browser.http.get(callback, allow_redirects=False) as response:
            location = response.headers.get("Location")

    assert location == "/dashboard"
