"""The cookie banner: no measurement script or host before consent, stored choices, changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from storage.models import ConsentRecord, User, utcnow
from tests.web.site import Site, WebClient, start_site

GA4_ID = "G-TEST4242"
PIXEL_ID = "424242424242"
# Anything of either service that could appear in a page: hosts, loaders, ids.
GA4_MARKERS = ("googletagmanager", "google-analytics", "analytics.google", "ga4.js", GA4_ID)
META_MARKERS = ("connect.facebook.net", "facebook.com/tr", "fbevents", "meta-pixel.js", PIXEL_ID)
PAGES = ("/", "/privacy", "/terms", "/login", "/consent")
PASSWORD = "correct horse battery"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    measurement = {"ga4_measurement_id": GA4_ID, "meta_pixel_id": PIXEL_ID}
    async with start_site(tmp_path, with_sandbox=False, web=measurement) as running:
        yield running


async def page_with_csp(client: WebClient, path: str) -> tuple[str, str]:
    async with client.http.get(client.url(path)) as response:
        assert response.status == 200, path
        return await response.text(), response.headers["Content-Security-Policy"]


def present(markers: tuple[str, ...], text: str) -> list[str]:
    return [marker for marker in markers if marker in text]


async def choose(client: WebClient, choice: str, **boxes: str) -> tuple[int, str, str]:
    return await client.post_form(
        "/consent", {"choice": choice, "next": "/", **boxes}, from_page="/"
    )


async def consent_records(site: Site) -> list[ConsentRecord]:
    async with site.db.sessions() as session:
        return list(await session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)))


async def test_nothing_loads_before_consent(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        for path in PAGES:
            html, csp = await page_with_csp(client, path)

            assert present(GA4_MARKERS, html) == [], path
            assert present(META_MARKERS, html) == [], path
            assert present(GA4_MARKERS, csp) == [], path
            assert present(META_MARKERS, csp) == [], path


async def test_banner_open_before_any_choice(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html = await client.get("/")

    assert 'id="cookie-banner"' in html
    assert 'data-decided="false"' in html
    for button in ("accept_all", "reject_all", "save"):
        assert f'name="choice" value="{button}"' in html


async def test_accept_all_loads_both_scripts(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, final_url = await choose(client, "accept_all")
        _, csp = await page_with_csp(client, "/")

    assert status == 200
    assert final_url.endswith("/")
    assert f"https://www.googletagmanager.com/gtag/js?id={GA4_ID}" in html
    assert f'data-pixel-id="{PIXEL_ID}"' in html
    assert "https://www.googletagmanager.com" in csp
    assert "https://connect.facebook.net" in csp
    assert 'data-decided="true"' in html


async def test_analytics_only_leaves_meta_out(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html, _ = await choose(client, "save", analytics="on")
        _, csp = await page_with_csp(client, "/")

    assert GA4_ID in html
    assert present(META_MARKERS, html) == []
    assert "https://www.googletagmanager.com" in csp
    assert present(META_MARKERS, csp) == []


async def test_marketing_only_leaves_ga4_out(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html, _ = await choose(client, "save", marketing="on")

    assert f'data-pixel-id="{PIXEL_ID}"' in html
    assert present(GA4_MARKERS, html) == []


async def test_reject_all_loads_nothing_and_closes_banner(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html, _ = await choose(client, "reject_all")

    assert present(GA4_MARKERS + META_MARKERS, html) == []
    assert 'data-decided="true"' in html


async def test_no_ids_never_load(tmp_path: Path) -> None:
    async with start_site(tmp_path, with_sandbox=False) as site, WebClient(site.base_url) as client:
        _, html, _ = await choose(client, "accept_all")
        _, csp = await page_with_csp(client, "/")

    assert present(GA4_MARKERS + META_MARKERS, html) == []
    assert "googletagmanager" not in csp
    assert "facebook" not in csp


async def test_choice_stored_with_time_and_visitor_id(site: Site) -> None:
    before = utcnow()
    async with WebClient(site.base_url) as client:
        await choose(client, "save", analytics="on")
        visitor_id = client.cookie("midjau_visitor")
    after = utcnow()

    records = await consent_records(site)
    assert visitor_id is not None
    assert len(records) == 1
    assert records[0].visitor_id == visitor_id
    assert records[0].user_id is None
    assert records[0].analytics is True
    assert records[0].marketing is False
    assert before - timedelta(seconds=1) <= records[0].created_at <= after + timedelta(seconds=1)


async def test_every_change_kept_as_history(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await choose(client, "accept_all")
        await choose(client, "reject_all")

    records = await consent_records(site)
    assert [(record.analytics, record.marketing) for record in records] == [
        (True, True),
        (False, False),
    ]
    assert records[0].visitor_id == records[1].visitor_id


async def test_footer_cookie_settings_changes_choice(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await choose(client, "accept_all")
        _, home = await client.get("/")
        _, settings_page = await client.get("/consent")
        _, html, _ = await client.post_form(
            "/consent", {"choice": "save", "marketing": "on", "next": "/"}, from_page="/consent"
        )

    assert 'action="/consent"' in home
    assert 'id="cookie-settings"' in home
    assert 'id="consent-page-analytics" name="analytics" value="on" checked' in settings_page
    assert "analytics on, marketing on" in settings_page
    assert present(GA4_MARKERS, html) == []
    assert f'data-pixel-id="{PIXEL_ID}"' in html


async def test_script_gets_json_answer(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        token = await client.csrf_token("/")
        async with client.http.post(
            client.url("/consent"),
            data={"choice": "accept_all"},
            headers={"Accept": "application/json", "X-CSRF-Token": token},
        ) as response:
            body = json.loads(await response.text())
            status = response.status

    assert status == 200
    assert body == {"analytics": True, "marketing": True, "decided": True}


async def test_choice_without_csrf_token_rejected(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.get("/")
        async with client.http.post(
            client.url("/consent"), data={"choice": "accept_all"}
        ) as response:
            status = response.status

    assert status == 403
    assert await consent_records(site) == []


async def test_unknown_choice_rejected(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html, _ = await choose(client, "everything")

    assert status == 400
    assert "Accept all, Reject all or Save choices" in html
    assert await consent_records(site) == []


async def test_next_outside_site_ignored(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, _, final_url = await client.post_form(
            "/consent", {"choice": "reject_all", "next": "https://example.com/"}, from_page="/"
        )

    assert status == 200
    assert final_url == f"{site.base_url}/"


async def test_logged_in_choice_carries_user_id(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "chooser@example.com", PASSWORD)
        await choose(client, "accept_all")
        _, html = await client.get("/dashboard/data")

    async with site.db.sessions() as session:
        user = await session.scalar(select(User).where(User.email == "chooser@example.com"))
    records = await consent_records(site)
    assert user is not None
    assert records[-1].user_id == user.id
    assert records[-1].analytics is True
    assert GA4_ID in html


async def test_visitor_choice_follows_login(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, "later@example.com", PASSWORD)
        await client.post_form("/logout", {}, from_page="/dashboard")
        await choose(client, "accept_all")
        await client.log_in("later@example.com", PASSWORD)
        _, html = await client.get("/dashboard")

    assert GA4_ID in html
    assert f'data-pixel-id="{PIXEL_ID}"' in html


async def test_no_ids_no_banner_and_no_choices(tmp_path: Path) -> None:
    async with start_site(tmp_path, with_sandbox=False) as site, WebClient(site.base_url) as client:
        _, home = await client.get("/")
        _, consent_page = await client.get("/consent")
        status, _, _ = await choose(client, "accept_all")

    assert 'id="cookie-banner"' not in home
    assert "Google Analytics" not in consent_page
    assert "Meta Pixel" not in consent_page
    assert 'type="checkbox"' not in consent_page
    assert "nothing to choose" in consent_page
    assert status == 200
    records = await consent_records(site)
    assert [(record.analytics, record.marketing) for record in records] == [(False, False)]


async def test_only_configured_service_offered(tmp_path: Path) -> None:
    only_ga4 = {"ga4_measurement_id": GA4_ID}
    async with (
        start_site(tmp_path, with_sandbox=False, web=only_ga4) as site,
        WebClient(site.base_url) as client,
    ):
        _, home = await client.get("/")
        await choose(client, "accept_all")
        records = await consent_records(site)

    assert 'id="cookie-banner"' in home
    assert "Google Analytics 4" in home
    assert "Meta Pixel" not in home
    assert [(record.analytics, record.marketing) for record in records] == [(True, False)]
