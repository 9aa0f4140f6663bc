"""Data rights on the running site: export, delete, restrict, withdraw consent, ownership."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from yarl import URL

from pipeline.pause_reasons import PauseCause, classify_pause
from storage.models import ConnectionState, ConsentRecord, MidjourneyConnection, User, utcnow
from tests.web.privacy_rig import (
    connect_sandbox_account,
    store_user_data,
    traces_in_database,
    traces_in_files,
    user_id_of,
)
from tests.web.site import Site, WebClient, start_site
from web.privacy.data_rights import counted

PASSWORD = "correct horse battery"
FIRST = "first@example.com"
SECOND = "second@example.com"
FIRST_DISCORD_ID = "1180000000000000501"
SECOND_DISCORD_ID = "1180000000000000502"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    # With a measurement id, so the banner's choices are real and the export lists them.
    measured = {"ga4_measurement_id": "G-EXPORT1", "meta_pixel_id": "4242"}
    async with start_site(tmp_path, with_bot=False, web=measured) as running:
        yield running


@pytest.fixture
async def first(site: Site) -> AsyncIterator[WebClient]:
    async with WebClient(site.base_url) as client:
        await client.post_form("/consent", {"choice": "accept_all", "next": "/"}, from_page="/")
        await client.sign_up_and_log_in(site, FIRST, PASSWORD)
        yield client


@pytest.fixture
async def second(site: Site) -> AsyncIterator[WebClient]:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, SECOND, PASSWORD)
        yield client


async def export_zip(client: WebClient) -> zipfile.ZipFile:
    token = await client.csrf_token("/dashboard/data")
    async with client.http.post(
        client.url("/dashboard/data/export"), data={"csrf_token": token}
    ) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "application/zip"
        assert "attachment" in response.headers["Content-Disposition"]
        return zipfile.ZipFile(io.BytesIO(await response.read()))


def read_json(archive: zipfile.ZipFile, name: str) -> object:
    return json.loads(archive.read(name))


def all_text(archive: zipfile.ZipFile) -> str:
    return "\n".join(archive.read(name).decode("utf-8", "replace") for name in archive.namelist())


async def connection_of(site: Site, connection_id: int | None) -> MidjourneyConnection | None:
    async with site.db.sessions() as session:
        return await session.get(MidjourneyConnection, connection_id)


async def delete_account(client: WebClient, password: str) -> tuple[int, str, str]:
    return await client.post_form(
        "/dashboard/data/delete",
        {"password": password, "confirm": "on"},
        from_page="/dashboard/data/delete",
    )


async def test_data_page_lists_every_right(site: Site, first: WebClient) -> None:
    status, html = await first.get("/dashboard/data")

    assert status == 200
    for action in ("/export", "/restrict", "/withdraw-consent", "/delete"):
        assert f'/dashboard/data{action}"' in html, action
    assert 'href="/dashboard/settings"' in html


async def test_export_holds_everything_but_secrets(site: Site, first: WebClient) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)
    await connect_sandbox_account(site, stored)
    assert site.sandbox is not None

    archive = await export_zip(first)

    names = set(archive.namelist())
    root = f"batches/{stored.batch_id}"
    assert {"README.txt", "account.json", "connections.json", "consent_history.json"} <= names
    assert f"{root}/batch.json" in names
    assert f"{root}/files/{stored.blob_keys[0].removeprefix(root + '/')}" in names
    assert f"{root}/files/sheet/sheet.xlsx" in names
    for path in stored.output_files:
        assert f"{root}/outputs/{path.name}" in names

    account = read_json(archive, "account.json")
    assert isinstance(account, dict)
    assert account["email"] == FIRST
    assert account["discord_user_id"] == FIRST_DISCORD_ID
    assert account["has_password"] is True
    assert "password_hash" not in account

    connections = read_json(archive, "connections.json")
    assert isinstance(connections, list)
    assert [connection["id"] for connection in connections] == [stored.connection_id]
    assert "token_ciphertext" not in connections[0]

    batch = read_json(archive, f"{root}/batch.json")
    assert isinstance(batch, dict)
    assert batch["rows"][0]["values"] == {"prompt": stored.prompt}
    assert batch["jobs"][0]["prompt"] == stored.prompt
    assert batch["jobs"][0]["images"][0]["blob_key"] == stored.blob_keys[0]

    consents = read_json(archive, "consent_history.json")
    assert isinstance(consents, list)
    assert consents[0]["analytics"] is True  # the banner choice made before signing up
    assert all(record["created_at"] for record in consents)
    tickets = read_json(archive, "support_tickets.json")
    assert isinstance(tickets, list)
    assert tickets[0]["subject"] == stored.ticket_subject

    text = all_text(archive)
    assert site.sandbox.user_token not in text
    assert "$argon2" not in text
    assert "token_hash" not in text


async def test_export_of_second_user_has_nothing_of_first(
    site: Site, first: WebClient, second: WebClient
) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)
    await store_user_data(site, SECOND, discord_user_id=SECOND_DISCORD_ID)

    archive = await export_zip(second)

    text = all_text(archive)
    assert not any(name.startswith(f"batches/{stored.batch_id}/") for name in archive.namelist())
    for needle in stored.needles:
        assert needle not in text, needle


async def test_export_needs_login(site: Site) -> None:
    async with WebClient(site.base_url) as visitor:
        token = await visitor.csrf_token("/")
        async with visitor.http.post(
            visitor.url("/dashboard/data/export"), data={"csrf_token": token}
        ) as response:
            status = response.status
            body = await response.read()

    assert status == 403
    assert not body.startswith(b"PK")


async def test_wrong_password_deletes_nothing(site: Site, first: WebClient) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)

    status, html, _ = await delete_account(first, "not the password")

    assert status == 400
    assert "The password is wrong." in html
    assert await traces_in_database(site, stored) != []
    assert traces_in_files(site, stored) != []


async def test_delete_without_confirmation_refused(site: Site, first: WebClient) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)

    status, html, _ = await first.post_form(
        "/dashboard/data/delete", {"password": PASSWORD}, from_page="/dashboard/data/delete"
    )

    assert status == 400
    assert "Tick the box" in html
    assert await traces_in_database(site, stored) != []


async def test_delete_removes_every_row_and_file(
    site: Site, first: WebClient, second: WebClient
) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)
    await connect_sandbox_account(site, stored)
    kept = await store_user_data(site, SECOND, discord_user_id=SECOND_DISCORD_ID)
    # The banner choice made before signing up carries only this browser's visitor id.
    visitor_id = first.cookie("midjau_visitor")
    assert visitor_id is not None
    stored.needles.append(visitor_id)
    assert site.service.engine.connections.get(stored.connection_id) is not None
    assert await traces_in_database(site, stored) != []

    status, html, _ = await delete_account(first, PASSWORD)

    assert status == 200
    assert "Your account is deleted" in html
    assert "(es)" not in html
    assert "(s)" not in html
    assert re.search(r"with \d+ batch(es)?, \d+ Discord connections? and \d+ stored files?", html)
    assert await traces_in_database(site, stored) == []
    assert traces_in_files(site, stored) == []
    assert site.service.engine.connections.get(stored.connection_id) is None
    # The other user's data stays.
    assert await traces_in_database(site, kept) != []
    assert traces_in_files(site, kept) != []
    # The browser is logged out.
    async with first.http.get(first.url("/dashboard/data"), allow_redirects=False) as response:
        assert response.status == 302
        assert response.headers["Location"].startswith("/login")


async def test_delete_without_password_needs_fresh_discord_login(site: Site) -> None:
    assert site.sandbox is not None
    # The sandbox's own human, because its authorize page logs that account in by default.
    discord_id = site.sandbox.user_id
    async with WebClient(site.base_url) as client:
        await sign_up_with_discord(client)
        await age_last_login(site, discord_id)

        _, page = await client.get("/dashboard/data/delete")
        refused, refused_html, _ = await client.post_form(
            "/dashboard/data/delete", {"confirm": "on"}, from_page="/dashboard/data/delete"
        )
        _, _, back_url = await client.post_form(
            "/dashboard/data/delete/discord", {}, from_page="/dashboard/data/delete"
        )
        status, html, _ = await client.post_form(
            "/dashboard/data/delete", {"confirm": "on"}, from_page="/dashboard/data/delete"
        )

    assert "Confirm with Discord" in page
    assert refused == 400
    assert "Confirm with Discord first" in refused_html
    assert URL(back_url).path == "/dashboard/data/delete"
    assert status == 200, html[:500]
    async with site.db.sessions() as session:
        gone = await session.scalar(select(User).where(User.discord_user_id == discord_id))
    assert gone is None


async def test_restrict_pauses_connections_until_lifted(site: Site, first: WebClient) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)
    await connect_sandbox_account(site, stored)
    assert stored.connection_id is not None
    engine = site.service.engine

    await first.post_form("/dashboard/data/restrict", {}, from_page="/dashboard/data")
    paused = await connection_of(site, stored.connection_id)
    resumed_by_owner = await engine.resume_connection(stored.connection_id, stored.user_id)
    _, page = await first.get("/dashboard/data")

    assert paused is not None
    assert paused.state == ConnectionState.PAUSED
    assert classify_pause(paused.pause_reason) is PauseCause.RESTRICTED
    assert resumed_by_owner is False
    assert "Processing is restricted since" in page

    await first.post_form("/dashboard/data/restrict/lift", {}, from_page="/dashboard/data")
    active = await connection_of(site, stored.connection_id)
    async with site.db.sessions() as session:
        user = await session.get(User, stored.user_id)

    assert active is not None
    assert active.state == ConnectionState.ACTIVE
    assert user is not None
    assert user.restricted_at is None


async def test_withdraw_consent_records_both_off(site: Site, first: WebClient) -> None:
    user_id = await user_id_of(site, FIRST)

    status, html, _ = await first.post_form(
        "/dashboard/data/withdraw-consent", {}, from_page="/dashboard/data"
    )

    async with site.db.sessions() as session:
        newest = await session.scalar(
            select(ConsentRecord)
            .where(ConsentRecord.user_id == user_id)
            .order_by(ConsentRecord.id.desc())
        )
    assert status == 200
    assert "Consent withdrawn" in html
    assert newest is not None
    assert (newest.analytics, newest.marketing) == (False, False)


async def test_second_user_cannot_act_for_first(
    site: Site, first: WebClient, second: WebClient
) -> None:
    stored = await store_user_data(site, FIRST, discord_user_id=FIRST_DISCORD_ID)
    await connect_sandbox_account(site, stored)
    before = await traces_in_database(site, stored)

    await second.post_form("/dashboard/data/restrict", {}, from_page="/dashboard/data")
    await second.post_form("/dashboard/data/withdraw-consent", {}, from_page="/dashboard/data")
    refused, _, _ = await delete_account(second, PASSWORD + " of first")
    with_first_password, _, _ = await second.post_form(
        "/dashboard/data/delete",
        {"password": PASSWORD, "confirm": "on", "user_id": str(stored.user_id)},
        from_page="/dashboard/data/delete",
    )

    connection = await connection_of(site, stored.connection_id)
    assert refused == 400
    assert connection is not None
    assert connection.state == ConnectionState.ACTIVE
    # The second user's own password deletes the second user only, whatever the form adds.
    assert with_first_password == 200
    assert await traces_in_database(site, stored) == before
    async with site.db.sessions() as session:
        second_user = await session.scalar(select(User).where(User.email == SECOND))
    assert second_user is None


async def sign_up_with_discord(client: WebClient) -> None:
    async with client.http.get(client.url("/login/discord")) as response:
        assert response.url.path == "/login/discord/welcome", await response.text()
    _, html, final_url = await client.post_form(
        "/login/discord/welcome", {"age_confirmed": "yes", "terms_accepted": "yes"}
    )
    assert URL(final_url).path == "/dashboard", html[:500]


async def age_last_login(site: Site, discord_id: str) -> None:
    async with site.db.sessions() as session, session.begin():
        user = await session.scalar(select(User).where(User.discord_user_id == discord_id))
        assert user is not None
        assert user.password_hash is None
        user.last_login_at = utcnow() - timedelta(hours=1)


@pytest.mark.parametrize(
    ("number", "expected"), [(0, "0 batches"), (1, "1 batch"), (2, "2 batches")]
)
def test_counted_uses_real_plurals(number: int, expected: str) -> None:
    assert counted(number, "batch", "batches") == expected
