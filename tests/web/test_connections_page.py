"""The Discord connections page against the sandbox: connect, health, pace, Disconnect."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import Base, Batch, MidjourneyConnection, User
from tests.web.dashboard_rig import logged_in_client
from tests.web.site import Site, WebClient, start_site

PAGE = "/dashboard/settings/connections"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(tmp_path) as running:
        yield running


def channel_link(site: Site) -> str:
    assert site.sandbox is not None
    return f"https://discord.com/channels/{site.sandbox.guild_id}/{site.sandbox.channel_id}"


async def connect(browser: WebClient, site: Site, token: str | None = None) -> tuple[int, str]:
    assert site.sandbox is not None
    status, html, _ = await browser.post_form(
        PAGE,
        {
            "token": token or site.sandbox.user_token,
            "channel_link": channel_link(site),
            "plan": "basic",
            "label": "Studio account",
        },
    )
    return status, html


async def only_connection(site: Site) -> MidjourneyConnection:
    async with site.db.sessions() as session:
        connections = list(await session.scalars(select(MidjourneyConnection)))
    assert len(connections) == 1
    return connections[0]


def database_bytes(site: Site) -> bytes:
    """Return the bytes of the SQLite file and of its write-ahead log."""
    path = site.settings.data_dir / "midjau.db"
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_connect_form_shows_working_connection(browser: WebClient, site: Site) -> None:
    assert site.sandbox is not None

    status, html = await connect(browser, site)

    assert status == 200
    assert "Connected." in html
    assert "Studio account" in html
    assert "Working" in html
    assert site.sandbox.channel_id in html
    assert site.sandbox.user_id in html  # the account id, known once the relay's session opened
    assert site.sandbox.user_token not in html
    connection = await only_connection(site)
    assert connection.plan == "basic"
    assert (connection.guild_id, connection.channel_id) == (
        site.sandbox.guild_id,
        site.sandbox.channel_id,
    )
    assert site.sandbox.user_token.encode() not in connection.token_ciphertext


async def test_connect_form_error_never_echoes_token(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        PAGE,
        {"token": "secret-token-value", "channel_link": "https://example.com/1/2", "plan": "pro"},
    )

    assert status == 400
    assert "is not a Discord channel link" in html
    assert "https://example.com/1/2" in html  # the link is kept for correcting
    assert "secret-token-value" not in html
    async with site.db.sessions() as session:
        assert list(await session.scalars(select(MidjourneyConnection))) == []


async def test_rejected_token_is_refused_and_nothing_stored(browser: WebClient, site: Site) -> None:
    status, html = await connect(browser, site, token="not-a-token-discord-knows")

    assert status == 400
    assert "Discord rejected the token" in unescape(html)
    assert "not-a-token-discord-knows" not in html
    async with site.db.sessions() as session:
        assert list(await session.scalars(select(MidjourneyConnection))) == []


async def test_channel_discord_does_not_show_is_refused(browser: WebClient, site: Site) -> None:
    assert site.sandbox is not None
    missing = "1180000000000009999"
    status, html, _ = await browser.post_form(
        PAGE,
        {
            "token": site.sandbox.user_token,
            "channel_link": f"https://discord.com/channels/{site.sandbox.guild_id}/{missing}",
            "plan": "pro",
        },
    )

    assert status == 400
    assert f"Discord says channel {missing} does not exist or your account cannot see it" in (
        unescape(html)
    )
    async with site.db.sessions() as session:
        assert list(await session.scalars(select(MidjourneyConnection))) == []


async def test_link_with_short_ids_is_refused(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        PAGE, {"token": "some-token", "channel_link": "https://discord.com/channels/1/2"}
    )

    assert status == 400
    text = unescape(html)
    assert "The channel link 'https://discord.com/channels/1/2' has server id '1'" in text
    assert "which is not a Discord id" in text


async def test_very_long_token_is_called_too_long(browser: WebClient, site: Site) -> None:
    status, html, _ = await browser.post_form(
        PAGE, {"token": "a" * 100_000, "channel_link": channel_link(site), "plan": "pro"}
    )

    assert status == 400
    assert "too long for a Discord token" in html
    assert "100,000 characters" in html


async def test_second_user_cannot_connect_the_same_account(browser: WebClient, site: Site) -> None:
    first_status, _ = await connect(browser, site)
    other, _ = await logged_in_client(site, "other@example.com")
    async with other:
        status, html = await connect(other, site)

    assert first_status == 200
    assert status == 400
    assert "This Discord account is already connected to another MidJAu account" in html
    await only_connection(site)


async def test_pace_form_stores_and_applies(browser: WebClient, site: Site) -> None:
    await connect(browser, site)
    connection = await only_connection(site)

    status, html, _ = await browser.post_form(
        f"{PAGE}/{connection.id}/pace",
        {"daily_cap": "120", "min_gap_seconds": "4.5"},
        from_page=PAGE,
    )

    assert status == 200
    assert "Pace saved" in html
    stored = await only_connection(site)
    assert (stored.daily_cap, stored.min_gap_seconds) == (120, 4.5)
    runtime = site.service.engine.connections.get(connection.id)
    assert runtime is not None
    assert runtime.dispatcher.daily_cap == 120
    assert runtime.pacer.min_gap_seconds == 4.5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("daily_cap", "0", "Daily cap '0' is not valid"),
        ("daily_cap", "ten", "Daily cap 'ten' is not valid"),
        ("min_gap_seconds", "0.1", "Minimum gap '0.1' is not valid"),
        ("min_gap_seconds", "nan", "Minimum gap 'nan' is not valid"),
    ],
)
async def test_pace_form_rejects_bad_values(
    browser: WebClient, site: Site, field: str, value: str, message: str
) -> None:
    await connect(browser, site)
    connection = await only_connection(site)

    status, html, _ = await browser.post_form(
        f"{PAGE}/{connection.id}/pace", {field: value}, from_page=PAGE
    )

    assert status == 400
    assert message in unescape(html)
    stored = await only_connection(site)
    assert (stored.daily_cap, stored.min_gap_seconds) == (None, None)


async def test_choices_form_stores_choices(browser: WebClient, site: Site) -> None:
    await connect(browser, site)
    connection = await only_connection(site)

    status, _, _ = await browser.post_form(
        f"{PAGE}/{connection.id}/choices", {"appeal_soft_moderation": "on"}, from_page=PAGE
    )

    assert status == 200
    stored = await only_connection(site)
    assert stored.appeal_soft_moderation is True
    assert stored.relax_when_fast_used_up is False


async def test_disconnect_page_says_what_is_deleted(browser: WebClient, site: Site) -> None:
    await connect(browser, site)
    connection = await only_connection(site)

    status, html = await browser.get(f"{PAGE}/{connection.id}/disconnect")

    assert status == 200
    assert "permanently deletes" in html
    assert "Discord token" in html
    assert await only_connection(site) is not None  # asking deletes nothing


async def test_disconnect_deletes_connection_and_token(browser: WebClient, site: Site) -> None:
    assert site.sandbox is not None
    await connect(browser, site)
    connection = await only_connection(site)
    ciphertext = connection.token_ciphertext
    async with site.db.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.email == "owner@example.com"))
        assert user is not None
        session.add(
            Batch(
                user_id=user.id,
                connection_id=connection.id,
                origin="web",
                status="done",
                source_filename="prompts.xlsx",
            )
        )

    status, html, _ = await browser.post_form(
        f"{PAGE}/{connection.id}/disconnect", {}, from_page=f"{PAGE}/{connection.id}/disconnect"
    )

    assert status == 200
    assert "deleted from MidJAu for good" in html
    assert "Studio account" in html
    assert site.service.engine.connections.get(connection.id) is None
    async with site.db.sessions() as session:
        assert list(await session.scalars(select(MidjourneyConnection))) == []
        batches = list(await session.scalars(select(Batch)))
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                assert all(value != ciphertext for value in row), table.name
    assert [batch.connection_id for batch in batches] == [None]
    on_disk = database_bytes(site)
    assert ciphertext not in on_disk
    assert site.sandbox.user_token.encode() not in on_disk


async def test_disconnect_requires_post_with_csrf(browser: WebClient, site: Site) -> None:
    await connect(browser, site)
    connection = await only_connection(site)

    async with browser.http.post(browser.url(f"{PAGE}/{connection.id}/disconnect")) as response:
        status = response.status

    assert status == 403
    assert await only_connection(site) is not None


async def test_connections_page_requires_login(site: Site) -> None:
    async with WebClient(site.base_url) as anonymous:
        status, _ = await anonymous.get(PAGE, allow_redirects=False)

    assert status == 302


async def test_connect_never_logs_token(
    browser: WebClient, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    assert site.sandbox is not None
    caplog.set_level(logging.DEBUG)

    await connect(browser, site)
    await connect(browser, site, token="a-rejected-token-value")

    assert caplog.records
    assert site.sandbox.user_token not in caplog.text
    assert "a-rejected-token-value" not in caplog.text
