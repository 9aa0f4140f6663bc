"""Where the site sends a browser after login or a choice, and the records of ended sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from storage.models import EndedSession, User, utcnow
from tests.web.site import PASSWORD, Site, WebClient
from web.auth import forget_expired_sessions, safe_next

FOREIGN_TARGETS = (
    "https://evil.example/",
    "//evil.example",
    "/\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/ /evil.example",
    "/\x7f/evil.example",
    "/dashboard\r\nSet-Cookie: x=1",
    "javascript:alert(1)",
    "evil.example",
    "/\u3000/evil.example",
    "/\u0085/evil.example",
    "/\u2028/evil.example",
)


@pytest.mark.parametrize("target", FOREIGN_TARGETS)
def test_safe_next_rejects_foreign_targets(target: str) -> None:
    assert safe_next(target, "/home") == "/home"


@pytest.mark.parametrize("target", ["/dashboard", "/dashboard/batches/3?tab=rows", "/a%20b"])
def test_safe_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target) == target


async def test_consent_with_line_break_in_next_goes_home(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, _, final_url = await client.post_form(
            "/consent",
            {"choice": "reject_all", "next": "/dashboard\r\nSet-Cookie: x=1"},
            from_page="/",
        )

    assert status == 200
    assert final_url == f"{site.base_url}/"


async def test_login_with_tab_in_next_stays_on_site(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "tab@example.com", PASSWORD)
        await client.post_form("/logout", {}, from_page="/dashboard")
        status, _, _ = await client.post_form(
            "/login",
            {"email": "tab@example.com", "password": PASSWORD, "next": "/\t/evil.example"},
            allow_redirects=False,
        )
        after_login = client.last_location
        async with client.http.get(
            client.url("/login?next=/%09/evil.example"), allow_redirects=False
        ) as response:
            logged_in_again = response.headers.get("Location")

    assert status == 303
    assert after_login == "/dashboard"
    assert logged_in_again == "/dashboard"


async def test_forget_expired_sessions_keeps_live_ones(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "ended@example.com", PASSWORD)
    async with site.db.sessions() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.email == "ended@example.com"))
        assert user_id is not None
        session.add(EndedSession(session_id="old", user_id=user_id, expires_at=utcnow()))
        live = utcnow() + timedelta(days=1)
        session.add(EndedSession(session_id="live", user_id=user_id, expires_at=live))

    forgotten = await forget_expired_sessions(site.db)

    async with site.db.sessions() as session:
        left = list(await session.scalars(select(EndedSession.session_id)))
    assert forgotten == 1
    assert left == ["live"]
