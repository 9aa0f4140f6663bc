"""Disconnect in the browser: the connection is removed and the page reports its data deleted."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page
from sqlalchemy import select

from storage.models import MidjourneyConnection
from tests.browser.steps import CONNECTIONS, connect_discord, sign_up
from tests.web.site import start_site

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_disconnect_deletes_connection_and_says_so(page: Page, tmp_path: Path) -> None:
    async with start_site(tmp_path, with_bot=False) as site:
        await sign_up(page, site, "disconnect@example.com")
        card = await connect_discord(page, site, "Studio account")

        await card.get_by_role("link", name="Disconnect…").click()
        await page.get_by_role("heading", name="Disconnect Studio account?").wait_for()
        warning = await page.locator("main").inner_text()
        await page.get_by_role("button", name="Disconnect and delete for good").click()
        await page.wait_for_url(f"{site.base_url}{CONNECTIONS}")
        notice = await page.get_by_role("status").filter(has_text="disconnected").inner_text()
        cards = await page.locator('section[id^="connection-"]').count()
        async with site.db.sessions() as session:
            stored = list(await session.scalars(select(MidjourneyConnection)))
        running = len(site.service.engine.connections)

    assert "permanently deletes" in warning
    assert "Studio account is disconnected" in notice
    assert "deleted from MidJAu for good" in notice
    assert cards == 0
    assert stored == []
    assert running == 0
