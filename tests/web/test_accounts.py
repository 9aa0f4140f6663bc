"""Sign-up, verification, login and logout through real HTTP and a real SMTP server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import ConsentRecord, EmailToken, User
from tests.web.site import PASSWORD, Site, WebClient, link_in, start_site


async def stored_user(site: Site, email: str) -> User | None:
    async with site.db.sessions() as session:
        return await session.scalar(select(User).where(User.email == email))


async def test_sign_up_stores_age_and_terms(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, _ = await client.sign_up("New.User@Example.com", PASSWORD)

    user = await stored_user(site, "new.user@example.com")
    assert status == 200
    assert "Check your mail" in html
    assert user is not None
    assert user.age_confirmed_at is not None
    assert user.terms_accepted_at is not None
    assert user.terms_version == site.settings.web.terms_version
    assert user.email_verified_at is None
    async with site.db.sessions() as session:
        consents = (await session.scalars(select(ConsentRecord))).all()
    assert consents == []  # accepting the terms decides nothing about cookies


async def test_new_account_still_sees_cookie_banner(tmp_path: Path) -> None:
    measured = {"ga4_measurement_id": "G-ACCOUNTS1"}
    async with (
        start_site(tmp_path, with_sandbox=False, web=measured) as site,
        WebClient(site.base_url) as client,
    ):
        await client.sign_up_and_log_in(site, "fresh@example.com", PASSWORD)
        _, html = await client.get("/dashboard")

    assert 'id="cookie-banner"' in html
    assert 'data-decided="false"' in html


async def test_sign_up_keeps_visitor_cookie_choice(tmp_path: Path) -> None:
    measured = {"ga4_measurement_id": "G-ACCOUNTS1"}
    async with start_site(tmp_path, with_sandbox=False, web=measured) as site:
        async with WebClient(site.base_url) as client:
            await client.post_form("/consent", {"choice": "reject_all", "next": "/"}, from_page="/")
            await client.sign_up_and_log_in(site, "decided@example.com", PASSWORD)

        user = await stored_user(site, "decided@example.com")
        assert user is not None
        async with site.db.sessions() as session:
            records = (
                await session.scalars(select(ConsentRecord).where(ConsentRecord.user_id == user.id))
            ).all()
        async with WebClient(site.base_url) as other_browser:
            await other_browser.log_in("decided@example.com", PASSWORD)
            _, html = await other_browser.get("/dashboard")

    assert [(record.analytics, record.marketing) for record in records] == [(False, False)]
    assert 'data-decided="true"' in html


async def test_sign_up_requires_both_confirmations(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, _ = await client.post_form(
            "/signup", {"email": "kid@example.com", "password": PASSWORD}
        )

    assert status == 400
    assert "13 years old or older" in html
    assert "You must be 13 or older" in html
    assert "Accept the terms" in html
    assert await stored_user(site, "kid@example.com") is None


async def test_sign_up_rejects_short_password(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, _ = await client.sign_up("short@example.com", "123456789")

    assert status == 400
    assert "at least 10 characters" in html
    assert await stored_user(site, "short@example.com") is None


async def test_password_and_link_secret_are_not_stored(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("hash@example.com", PASSWORD)
    mail = await site.smtp.wait_for("hash@example.com", "/verify/")
    secret = link_in(mail).rsplit("/", 1)[1]

    user = await stored_user(site, "hash@example.com")
    async with site.db.sessions() as session:
        [token] = (await session.scalars(select(EmailToken))).all()
    assert user is not None and user.password_hash is not None
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert token.token_hash != secret
    assert len(token.token_hash) == 64


async def test_verification_link_confirms_address(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("verify@example.com", PASSWORD)
        mail = await site.smtp.wait_for("verify@example.com", "/verify/")
        status, html = await client.get(link_in(mail))

    user = await stored_user(site, "verify@example.com")
    assert status == 200
    assert "Your email address is confirmed" in html
    assert user is not None and user.email_verified_at is not None


async def test_unverified_login_refused_with_resend(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("late@example.com", PASSWORD)
        status, html, final_url = await client.log_in("late@example.com", PASSWORD)
        home_status, home = await client.get("/")

    assert status == 403
    assert "not verified yet" in html
    assert 'action="/verify/resend"' in html
    assert final_url.endswith("/login")
    assert home_status == 200
    assert 'action="/logout"' not in home


async def test_resend_sends_new_working_link(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("again@example.com", PASSWORD)
        first = await site.smtp.wait_for("again@example.com", "/verify/")
        status, _, _ = await client.post_form(
            "/verify/resend", {"email": "again@example.com"}, from_page="/login"
        )
        second = await site.smtp.wait_for("again@example.com", "/verify/")
        old_status, _ = await client.get(link_in(first))
        new_status, _ = await client.get(link_in(second))

    assert status == 200
    assert link_in(first) != link_in(second)
    assert old_status == 400
    assert new_status == 200


async def test_wrong_password_refused(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "owner@example.com", PASSWORD)
    async with WebClient(site.base_url) as other:
        status, html, _ = await other.log_in("owner@example.com", "not the password")
        _, home = await other.get("/")

    assert status == 401
    assert "The email address or the password is wrong." in html
    assert 'action="/logout"' not in home


async def test_unknown_email_gets_same_answer_as_wrong_password(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, _ = await client.log_in("nobody@example.com", PASSWORD)

    assert status == 401
    assert "The email address or the password is wrong." in html


async def test_login_shows_logged_in_pages(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "in@example.com", PASSWORD)
        status, home = await client.get("/")

    user = await stored_user(site, "in@example.com")
    assert status == 200
    assert 'action="/logout"' in home
    assert user is not None and user.last_login_at is not None


async def test_login_ignores_offsite_next(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up("next@example.com", PASSWORD)
        mail = await site.smtp.wait_for("next@example.com", "/verify/")
        await client.get(link_in(mail))
        status, _, _ = await client.post_form(
            "/login",
            {"email": "next@example.com", "password": PASSWORD, "next": "//evil.example/x"},
            allow_redirects=False,
        )
        location = client.last_location

    assert status == 303
    assert location == "/dashboard"


async def test_sign_up_with_known_address_mails_owner(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "taken@example.com", PASSWORD)
    async with WebClient(site.base_url) as other:
        status, html, _ = await other.sign_up("taken@example.com", "another password!")

    mail = await site.smtp.wait_for("taken@example.com", "already have")
    user = await stored_user(site, "taken@example.com")
    assert status == 200
    assert "Check your mail" in html
    assert "/reset" in str(mail.get_body(("plain",)))
    assert user is not None
    assert user.email_verified_at is not None


async def test_logout_ends_session(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "bye@example.com", PASSWORD)
        status, html, _ = await client.post_form("/logout", {}, from_page="/")
        _, home = await client.get("/")

    assert status == 200
    assert "You are logged out." in html
    assert 'action="/logout"' not in home


async def test_logs_hold_no_email_or_password(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "private.person@example.com", PASSWORD)
        await client.post_form("/reset", {"email": "private.person@example.com"})
    mail = await site.smtp.wait_for("private.person@example.com", "/reset/")

    # The SMTP catcher's own log ("mail.log") shows the mails it receives; MidJAu's must not.
    project = ("web", "midjau", "pipeline", "storage", "aiohttp")
    text = "\n".join(
        record.getMessage() for record in caplog.records if record.name.startswith(project)
    )
    assert "sent the mail" in text
    assert "private.person@example.com" not in text
    assert PASSWORD not in text
    assert link_in(mail).rsplit("/", 1)[1] not in text
