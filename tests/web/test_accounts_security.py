"""Sessions, CSRF, cookies, rate limits, security headers and error pages of the site."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select
from yarl import URL

from storage.db import Database
from storage.models import EndedSession, User
from tests.web.site import (
    PASSWORD,
    Site,
    SmtpCatcher,
    WebClient,
    link_in,
    serve_app,
    site_settings,
    start_site,
)
from web import auth
from web.app import create_app
from web.auth import login_required
from web.ratelimit import RateLimiter


def set_cookie_headers(response: aiohttp.ClientResponse) -> list[str]:
    return [
        value for value in response.headers.getall("Set-Cookie", []) if "midjau_session=" in value
    ]


async def test_csrf_missing_token_rejected(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.get("/signup")
        async with client.http.post(
            f"{site.base_url}/signup",
            data={"email": "x@example.com", "password": PASSWORD, "age_confirmed": "on"},
        ) as response:
            status, html = response.status, await response.text()

    assert status == 403
    assert "Reload the page and try again" in html


async def test_csrf_wrong_token_rejected(site: Site) -> None:
    async with WebClient(site.base_url) as client, WebClient(site.base_url) as other:
        foreign_token = await other.csrf_token("/login")
        await client.get("/login")
        async with client.http.post(
            f"{site.base_url}/logout", data={"csrf_token": foreign_token}
        ) as response:
            status = response.status

    assert status == 403


async def test_csrf_token_accepted_in_header(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        token = await client.csrf_token("/")
        async with client.http.post(
            f"{site.base_url}/logout", headers={"X-CSRF-Token": token}, allow_redirects=False
        ) as response:
            status = response.status

    assert status == 303


async def test_session_cookie_flags_over_http(site: Site) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{site.base_url}/login") as response:
        [cookie] = set_cookie_headers(response)

    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


async def test_session_cookie_secure_with_https_public_url(tmp_path: Path) -> None:
    async with (
        start_site(
            tmp_path, with_sandbox=False, web={"public_url": "https://midjau.example"}
        ) as site,
        aiohttp.ClientSession() as http,
        http.get(f"{site.base_url}/login") as response,
    ):
        [cookie] = set_cookie_headers(response)

    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


async def test_login_rotates_session(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("rotate@example.com", PASSWORD)
        await client.get(link_in(await site.smtp.wait_for("rotate@example.com", "/verify/")))
        anonymous_cookie = client.cookie("midjau_session")
        anonymous_token = await client.csrf_token("/login")
        await client.post_form(
            "/login",
            {"email": "rotate@example.com", "password": PASSWORD},
            allow_redirects=False,
        )
        logged_in_cookie = client.cookie("midjau_session")
        logged_in_token = await client.csrf_token("/")

    async with WebClient(site.base_url) as replay:
        replay.http.cookie_jar.update_cookies({"midjau_session": anonymous_cookie or ""})
        _, home = await replay.get("/")

    assert anonymous_cookie and logged_in_cookie
    assert anonymous_cookie != logged_in_cookie
    assert anonymous_token != logged_in_token
    assert 'action="/logout"' not in home


async def test_logout_ends_copies_of_cookie(site: Site) -> None:
    async with WebClient(site.base_url) as client, WebClient(site.base_url) as replay:
        await client.sign_up_and_log_in(site, "copied@example.com", PASSWORD)
        copied_cookie = client.cookie("midjau_session")
        replay.http.cookie_jar.update_cookies({"midjau_session": copied_cookie or ""})
        before, _ = await replay.get("/dashboard", allow_redirects=False)
        await client.post_form("/logout", {}, from_page="/dashboard", allow_redirects=False)
        after, _ = await replay.get("/dashboard", allow_redirects=False)

    assert copied_cookie
    assert before == 200
    assert after == 302


async def test_second_login_ends_copies_of_first_session(site: Site) -> None:
    async with WebClient(site.base_url) as client, WebClient(site.base_url) as replay:
        await client.sign_up_and_log_in(site, "twice@example.com", PASSWORD)
        first_cookie = client.cookie("midjau_session")
        await client.post_form(
            "/login",
            {"email": "twice@example.com", "password": PASSWORD},
            from_page="/dashboard",
            allow_redirects=False,
        )
        replay.http.cookie_jar.update_cookies({"midjau_session": first_cookie or ""})
        status, _ = await replay.get("/dashboard", allow_redirects=False)

    assert first_cookie
    assert status == 302


async def test_deleted_account_cookie_fails_on_reused_id(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "gone@example.com", PASSWORD)
        old_cookie = client.cookie("midjau_session")
    async with site.db.sessions() as session, session.begin():
        deleted_user = await session.scalar(select(User).where(User.email == "gone@example.com"))
        assert deleted_user is not None
        deleted_id = deleted_user.id
        await session.delete(deleted_user)

    # Ids are never reused by the database itself; a restored backup can still give a new
    # account the deleted one's id.
    async with site.db.sessions() as session, session.begin():
        session.add(User(id=deleted_id, email="newcomer@example.com", display_name="Newcomer"))

    async with WebClient(site.base_url) as replay:
        replay.http.cookie_jar.update_cookies({"midjau_session": old_cookie or ""})
        status, _ = await replay.get("/dashboard", allow_redirects=False)

    assert status == 302


async def test_many_logouts_end_all_sessions_instead(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "MAX_ENDED_SESSIONS_PER_USER", 2)
    copies = []
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "loop@example.com", PASSWORD)
        for _ in range(3):
            copies.append(client.cookie("midjau_session") or "")
            await client.post_form("/logout", {}, from_page="/dashboard", allow_redirects=False)
            await client.post_form(
                "/login", {"email": "loop@example.com", "password": PASSWORD}, allow_redirects=False
            )
        status, _ = await client.get("/dashboard", allow_redirects=False)
    async with site.db.sessions() as session:
        user = await session.scalar(select(User).where(User.email == "loop@example.com"))
        assert user is not None
        ended_rows = await session.scalar(
            select(func.count()).where(EndedSession.user_id == user.id)
        )
    statuses = []
    for copy in copies:
        async with WebClient(site.base_url) as replay:
            replay.http.cookie_jar.update_cookies({"midjau_session": copy})
            statuses.append((await replay.get("/dashboard", allow_redirects=False))[0])

    assert status == 200  # the login after the third logout still works
    assert user.session_epoch == 1
    assert ended_rows == 0
    assert statuses == [302, 302, 302]


async def test_logout_everywhere_ends_other_sessions(site: Site) -> None:
    async with WebClient(site.base_url) as laptop, WebClient(site.base_url) as phone:
        await laptop.sign_up_and_log_in(site, "both@example.com", PASSWORD)
        await phone.post_form(
            "/login", {"email": "both@example.com", "password": PASSWORD}, allow_redirects=False
        )
        _, phone_before = await phone.get("/")
        status, _, _ = await laptop.post_form("/logout/everywhere", {}, from_page="/")
        _, phone_after = await phone.get("/")
        _, laptop_after = await laptop.get("/")

    assert status == 200
    assert 'action="/logout"' in phone_before
    assert 'action="/logout"' not in phone_after
    assert 'action="/logout"' not in laptop_after


async def test_login_rate_limit_gives_429(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = [
            (await client.log_in("target@example.com", f"guess number {attempt}"))[0]
            for attempt in range(6)
        ]
        _, html, _ = await client.log_in("target@example.com", "one more guess")

    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    assert "Wait 15 minutes" in html


async def test_reset_rate_limit_gives_429(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = [
            (await client.post_form("/reset", {"email": "flood@example.com"}))[0] for _ in range(6)
        ]

    assert statuses[:5] == [200] * 5
    assert statuses[5] == 429


def test_rate_limiter_counts_per_key() -> None:
    limiter = RateLimiter(2, per_seconds=60)

    assert [limiter.hit("a"), limiter.hit("a"), limiter.hit("a")] == [True, True, False]
    assert limiter.hit("b") is True


def test_rate_limiter_forgets_old_hits() -> None:
    limiter = RateLimiter(1, per_seconds=0.001)
    limiter.hit("a")

    time.sleep(0.01)
    assert limiter.hit("a") is True


async def test_security_headers_on_pages(site: Site) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{site.base_url}/login") as response:
        headers = response.headers

    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "google" not in headers["Content-Security-Policy"]


async def test_not_found_page_is_friendly(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html = await client.get("/no/such/page")

    assert status == 404
    assert "Page not found" in html
    assert 'href="/privacy"' in html
    assert "Traceback" not in html


async def test_method_not_allowed_page_is_friendly(site: Site) -> None:
    async with (
        WebClient(site.base_url) as client,
        client.http.get(client.url("/logout")) as response,
    ):
        status, html, allowed = response.status, await response.text(), response.headers["Allow"]

    assert status == 405
    assert "does not accept that kind of request" in html
    assert 'href="/privacy"' in html  # the site's own page, not aiohttp's plain text
    assert allowed == "POST"
    assert "Traceback" not in html


@pytest.fixture
async def app_with_test_routes(tmp_path: Path) -> AsyncIterator[str]:
    """Serve the site with two extra routes: one that fails and one that needs a login."""

    async def fail(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail of a failure")

    @login_required
    async def private(request: web.Request) -> web.Response:
        return web.Response(text="private")

    async with SmtpCatcher() as smtp:
        settings = site_settings(tmp_path / "data", smtp, None)
        database = Database(settings.database_url)
        await database.upgrade()
        app = create_app(settings, database, b"0" * 32)
        app.router.add_get("/test/fail", fail)
        app.router.add_get("/test/private", private)
        try:
            async with serve_app(app) as base_url:
                yield base_url
        finally:
            await database.dispose()


async def test_server_error_page_hides_traceback(app_with_test_routes: str) -> None:
    async with WebClient(app_with_test_routes) as client:
        status, html = await client.get("/test/fail")

    assert status == 500
    assert "Something went wrong" in html
    assert "Traceback" not in html
    assert "secret detail" not in html


async def test_login_required_redirects_to_login(app_with_test_routes: str) -> None:
    async with WebClient(app_with_test_routes) as client:
        status, _ = await client.get("/test/private", allow_redirects=False)
        async with client.http.get(
            f"{app_with_test_routes}/test/private", allow_redirects=False
        ) as response:
            location = response.headers["Location"]

    assert status == 302
    assert URL(location).path == "/login"
    assert URL(location).query["next"] == "/test/private"


async def test_oversized_upload_gets_413_page(site: Site) -> None:
    too_big = b"x" * (site.settings.intake.max_upload_bytes + 2 * 1024 * 1024)
    async with WebClient(site.base_url) as client:
        status, html, _ = await client.post_form(
            "/signup", {}, files={"sheet": ("big.xlsx", too_big, "application/octet-stream")}
        )

    assert status == 413
    assert "File too large" in html
