"""Restricted processing on the site: uploads, Run and the connect form say why nothing runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import func, select

from pipeline.batch_requests import PROCESSING_RESTRICTED_MESSAGE
from pipeline.engine import CONNECT_RESTRICTED_MESSAGE
from storage.models import Batch, BatchStatus, MidjourneyConnection
from tests.web.dashboard_rig import batch_id_to_run, connect_sandbox, load_batch, upload, user_id_of
from tests.web.site import OWNER_EMAIL, Site, WebClient, start_site

CONNECTIONS_PAGE = "/dashboard/settings/connections"


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(tmp_path, with_bot=False) as running:
        yield running


async def restrict(browser: WebClient) -> None:
    status, html, _ = await browser.post_form(
        "/dashboard/data/restrict", {}, from_page="/dashboard/data"
    )
    assert status == 200, html[:2000]


async def count_rows(site: Site, model: type[Batch] | type[MidjourneyConnection]) -> int:
    async with site.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_upload_while_restricted_names_restriction(site: Site, browser: WebClient) -> None:
    connection_id = await connect_sandbox(site, await user_id_of(site, OWNER_EMAIL))
    await restrict(browser)

    status, html = await upload(browser, ["a red fox"], connection_id=connection_id)

    assert status == 400
    assert PROCESSING_RESTRICTED_MESSAGE in unescape(html)
    assert "Connect a Midjourney account first" not in unescape(html)
    assert await count_rows(site, Batch) == 0


async def test_run_while_restricted_leaves_batch_waiting(site: Site, browser: WebClient) -> None:
    connection_id = await connect_sandbox(site, await user_id_of(site, OWNER_EMAIL))
    status, html = await upload(browser, ["a red fox"], connection_id=connection_id)
    assert status == 200, html[:2000]
    batch_id = batch_id_to_run(html)
    await restrict(browser)

    status, html, _ = await browser.post_form(
        f"/dashboard/batches/{batch_id}/run", {}, from_page=f"/dashboard/batches/{batch_id}"
    )

    assert status == 200
    assert PROCESSING_RESTRICTED_MESSAGE in unescape(html)
    assert (await load_batch(site, batch_id)).status == BatchStatus.AWAITING_CONFIRMATION


async def test_connect_form_while_restricted_stores_nothing(site: Site, browser: WebClient) -> None:
    assert site.sandbox is not None
    await restrict(browser)
    link = f"https://discord.com/channels/{site.sandbox.guild_id}/{site.sandbox.channel_id}"

    status, html, _ = await browser.post_form(
        CONNECTIONS_PAGE,
        {"token": site.sandbox.user_token, "channel_link": link, "plan": "basic", "label": ""},
    )

    assert status == 409
    assert CONNECT_RESTRICTED_MESSAGE in unescape(html)
    assert site.sandbox.user_token not in html
    assert await count_rows(site, MidjourneyConnection) == 0


async def test_upload_while_restricted_shows_only_restriction(
    site: Site, browser: WebClient
) -> None:
    await restrict(browser)

    status, html, _ = await browser.post_form(
        "/dashboard/upload",
        {"upscale": "none", "mode": "fast"},
        from_page="/dashboard",
        files={"sheet": ("prompts.csv", b"prompt\na red fox\n", "text/csv")},
    )

    page = unescape(html)
    assert status == 400
    assert "Choose the Discord connection" not in page
    assert page.count("Processing is restricted") == 1
    assert PROCESSING_RESTRICTED_MESSAGE in page
