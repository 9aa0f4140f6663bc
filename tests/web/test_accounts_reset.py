"""Password reset by mail: same answer for any address, single-use and expiring links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from storage.models import EmailToken, utcnow
from tests.web.site import PASSWORD, Site, WebClient, link_in

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def reset_link(site: Site) -> str:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "reset@example.com", PASSWORD)
    async with WebClient(site.base_url) as client:
        await client.post_form("/reset", {"email": "reset@example.com"})
    return link_in(await site.smtp.wait_for("reset@example.com", "/reset/"))


async def test_reset_answers_same_for_unknown_email(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "known@example.com", PASSWORD)
        known_status, known_html, _ = await client.post_form(
            "/reset", {"email": "known@example.com"}
        )
        unknown_status, unknown_html, _ = await client.post_form(
            "/reset", {"email": "unknown@example.com"}
        )
    await site.smtp.wait_for("known@example.com", "/reset/")

    assert known_status == unknown_status == 200
    assert known_html.replace("known@", "X@") == unknown_html.replace("unknown@", "X@")
    assert site.smtp.sent_to("unknown@example.com") == []


async def test_reset_link_sets_new_password(site: Site, reset_link: str) -> None:
    async with WebClient(site.base_url) as client:
        form_status, _ = await client.get(reset_link)
        status, html, _ = await client.post_form(reset_link, {"password": NEW_PASSWORD})
        old_status, _, _ = await client.log_in("reset@example.com", PASSWORD)
        new_status, _, _ = await client.post_form(
            "/login",
            {"email": "reset@example.com", "password": NEW_PASSWORD},
            allow_redirects=False,
        )

    assert form_status == 200
    assert status == 200
    assert "Your password is changed" in html
    assert old_status == 401
    assert new_status == 303


async def test_reset_link_works_once(site: Site, reset_link: str) -> None:
    async with WebClient(site.base_url) as client:
        token = await client.csrf_token(reset_link)
        first = await client.http.post(
            reset_link, data={"password": NEW_PASSWORD, "csrf_token": token}
        )
        second = await client.http.post(
            reset_link, data={"password": "yet another passphrase", "csrf_token": token}
        )
        page_status, page = await client.get(reset_link)

    assert first.status == 200
    assert second.status == 400
    assert page_status == 400
    assert "invalid, was already used, or has expired" in page


async def test_reset_link_expires(site: Site, reset_link: str) -> None:
    async with site.db.sessions() as session, session.begin():
        await session.execute(update(EmailToken).values(expires_at=utcnow() - timedelta(seconds=1)))

    async with WebClient(site.base_url) as client:
        status, html = await client.get(reset_link)
        token = await client.csrf_token("/reset")
        post = await client.http.post(
            reset_link, data={"password": NEW_PASSWORD, "csrf_token": token}
        )

    assert status == 400
    assert "has expired" in html
    assert post.status == 400


async def test_newer_reset_link_replaces_older(site: Site, reset_link: str) -> None:
    async with WebClient(site.base_url) as client:
        await client.post_form("/reset", {"email": "reset@example.com"})
        newer = link_in(await site.smtp.wait_for("reset@example.com", "/reset/"))
        old_status, _ = await client.get(reset_link)
        new_status, _ = await client.get(newer)

    assert old_status == 400
    assert new_status == 200


async def test_reset_logs_out_other_sessions(site: Site) -> None:
    async with WebClient(site.base_url) as logged_in, WebClient(site.base_url) as resetter:
        await logged_in.sign_up_and_log_in(site, "victim@example.com", PASSWORD)
        await resetter.post_form("/reset", {"email": "victim@example.com"})
        link = link_in(await site.smtp.wait_for("victim@example.com", "/reset/"))
        await resetter.post_form(link, {"password": NEW_PASSWORD})
        _, home = await logged_in.get("/")

    assert 'action="/logout"' not in home


async def test_reset_mail_ignores_a_forged_host_header(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "host@example.com", PASSWORD)
    async with WebClient(site.base_url) as client:
        token = await client.csrf_token("/reset")
        async with client.http.post(
            client.url("/reset"),
            data={"email": "host@example.com", "csrf_token": token},
            headers={"Host": "evil.example"},
        ) as response:
            status = response.status
    link = link_in(await site.smtp.wait_for("host@example.com", "/reset/"))

    assert status == 200
    assert link.startswith(site.base_url + "/reset/")
    assert "evil.example" not in link
