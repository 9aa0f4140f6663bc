"""The privacy policy and terms pages: versioned, and stating the running settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.site import Site, WebClient, start_site

TERMS_VERSION = "2031-04"
RETENTION_DAYS = 3.5


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(
        tmp_path,
        with_sandbox=False,
        output_retention_days=RETENTION_DAYS,
        web={"terms_version": TERMS_VERSION},
        mail={"operator": "privacy@operator.test"},
    ) as running:
        yield running


async def test_privacy_policy_states_settings(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html = await client.get("/privacy")

    assert status == 200
    assert f"Version {TERMS_VERSION}" in html
    assert f"at the latest {RETENTION_DAYS:g} days after the batch finished" in html
    assert "privacy@operator.test" in html


async def test_privacy_policy_lists_data_and_processors(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html = await client.get("/privacy")

    for stored in (
        "Discord ids",
        "Discord connections",
        "<strong>encrypted</strong>",
        "Sheets and prompts",
        "Generated images and outputs",
        "Support tickets",
        "Consent records",
        "Logs",
    ):
        assert stored in html, stored
    for processor in (
        "Discord",
        "Midjourney",
        "Stripe",
        "SMTP",
        "Google Analytics 4",
        "Meta Pixel",
    ):
        assert processor in html, processor
    for right in ("/dashboard/data", "/dashboard/settings", "/consent"):
        assert f'href="{right}"' in html, right


async def test_privacy_policy_says_when_measurement_is_off(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        _, html = await client.get("/privacy")

    assert "this site has neither service set up at the moment" in html


async def test_terms_page_versioned_with_account_warning(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        status, html = await client.get("/terms")

    assert status == 200
    assert f"Version {TERMS_VERSION}" in html
    assert "against Discord's and Midjourney's terms" in html
    assert "13 or older" in html


async def test_pages_open_without_login(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        for path in ("/privacy", "/terms", "/consent"):
            async with client.http.get(client.url(path), allow_redirects=False) as response:
                assert response.status == 200, path
