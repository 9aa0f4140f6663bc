"""A new user's whole path in the browser: sign up to the downloaded ZIP of a finished batch."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Page

from tests.browser.steps import connect_discord, download, sign_up, zip_names
from tests.faults.rig import sheet_bytes
from tests.web.site import start_site

pytestmark = pytest.mark.asyncio(loop_scope="session")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROMPTS = ["a red fox in the snow", "a blue owl at dusk", "a green frog on a leaf"]


async def test_sign_up_connect_upload_watch_and_download(page: Page, tmp_path: Path) -> None:
    # A gap between prompts keeps the batch running while the page follows its events.
    async with start_site(tmp_path, pacing={"min_gap_seconds": 0.4}) as site:
        await sign_up(page, site, "journey@example.com")
        await connect_discord(page, site, "Studio account")

        await page.goto(f"{site.base_url}/dashboard")
        sheet = await asyncio.to_thread(sheet_bytes, PROMPTS)
        await page.get_by_label("Sheet (").set_input_files(
            {"name": "prompts.xlsx", "mimeType": XLSX, "buffer": sheet}
        )
        await page.get_by_role("button", name="Check the sheet").click()
        await page.get_by_role("heading", name="Check of prompts.xlsx").wait_for()
        await page.get_by_role("button", name="Run the 3 rows").click()
        await page.wait_for_url("**/dashboard/batches/*")

        # Focus inside the page keeps the script from reloading it when the batch ends, so
        # the counts below are the ones the event stream wrote.
        await page.get_by_role("link", name="Back to the dashboard").focus()
        progress = page.locator("#batch-progress")
        await page.locator("#batch-live-note").wait_for(state="visible")
        counts = {
            name: await progress.locator(f'[data-field="{name}"]').inner_text()
            for name in ("finished", "total", "done", "failed")
        }
        status = await progress.locator('[data-field="status"]').inner_text()
        bar_value = await page.locator("#batch-progress-bar").evaluate("bar => bar.value")

        await page.get_by_role("link", name="Reload the page").click()
        zip_link = page.get_by_role("link", name="Images (ZIP)")
        filename, data = await download(page, zip_link)
        rows = await page.locator("table.rows tbody tr").all_inner_texts()

    assert counts == {"finished": "3", "total": "3", "done": "3", "failed": "0"}
    assert status.strip() == "done"
    assert bar_value == 3
    assert filename.endswith("-images.zip")
    images = [name for name in zip_names(data) if name.endswith(".png")]
    assert len(images) == 3
    assert len(rows) == 3
    assert all(prompt in " ".join(rows) for prompt in PROMPTS)
