"""An upload past the request size limit gets the dashboard's own message, not a bare 413."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import aiohttp
import pytest

from midjau.settings import IntakeSettings
from tests.web.site import OWNER_EMAIL, PASSWORD, Site, WebClient, start_site

MIB = 1024 * 1024


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    limits = IntakeSettings(max_upload_bytes=MIB)
    async with start_site(tmp_path, with_sandbox=False, intake=limits) as running:
        yield running


async def test_upload_over_request_limit_names_the_limit(site: Site) -> None:
    too_big = b"prompt\n" + b"a red fox\n" * (3 * MIB // 10)
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, OWNER_EMAIL, PASSWORD)
        status, html, _ = await client.post_form(
            "/dashboard/upload",
            {"upscale": "none", "mode": "fast", "connection_id": "1"},
            from_page="/dashboard",
            files={"sheet": ("big.csv", too_big, "text/csv")},
        )

    page = unescape(html)
    assert status == 413
    assert "the limit of 1.0 MiB" in page
    assert 'id="upload-heading"' in page


async def test_upload_without_form_token_refused(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, OWNER_EMAIL, PASSWORD)
        form = aiohttp.FormData()
        form.add_field("connection_id", "1")
        form.add_field("sheet", b"prompt\na red fox\n", filename="a.csv", content_type="text/csv")
        async with client.http.post(client.url("/dashboard/upload"), data=form) as response:
            status, html = response.status, await response.text()

    assert status == 403
    assert "Reload the page and try again" in html
