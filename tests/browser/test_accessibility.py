"""The pages on a phone-width screen and from the keyboard: no sideways scrolling, labels,
focus order and visible focus, and text contrast."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize

from tests.browser.audits import (
    horizontal_overflow,
    low_contrast_text,
    tab_through,
    unlabelled_controls,
)
from tests.browser.steps import CONNECTIONS, sign_up
from tests.faults.rig import sheet_bytes
from tests.web.dashboard_rig import connect_sandbox, user_id_of
from tests.web.site import Site, start_site

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE: ViewportSize = {"width": 360, "height": 740}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PUBLIC_PAGES = ("/", "/login", "/signup", "/reset", "/privacy", "/terms", "/consent", "/nowhere")
ACCOUNT_PAGES = (
    "/dashboard",
    "/dashboard/settings",
    CONNECTIONS,
    "/dashboard/support",
    "/dashboard/data",
    "/dashboard/data/delete",
)


@dataclass(frozen=True, slots=True)
class PhoneSession:
    """A logged-in phone-width page on the site, with one object of each kind to look at."""

    site: Site
    page: Page
    object_pages: tuple[str, ...]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def phone(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[PhoneSession]:
    """Sign up at phone width, connect Discord, send a ticket and run a one-row batch."""
    folder = tmp_path_factory.mktemp("phone")
    async with start_site(folder) as site:
        context = await browser.new_context(viewport=PHONE, accept_downloads=True)
        try:
            page = await context.new_page()
            await sign_up(page, site, "phone@example.com")
            connection_id = await connect_sandbox(site, await user_id_of(site, "phone@example.com"))
            ticket = await _send_ticket(page, site)
            batch = await _run_batch(page, site)
            yield PhoneSession(
                site,
                page,
                (f"{CONNECTIONS}/{connection_id}/disconnect", ticket, batch),
            )
        finally:
            await context.close()


async def _send_ticket(page: Page, site: Site) -> str:
    await page.goto(f"{site.base_url}/dashboard/support")
    await page.get_by_label("Subject", exact=True).fill("Where is my report?")
    await page.get_by_label("Message", exact=True).fill("Batch 1 has no report yet.")
    await page.get_by_role("button", name="Send").click()
    await page.wait_for_url("**/dashboard/support/*")
    return page.url.removeprefix(site.base_url)


async def _run_batch(page: Page, site: Site) -> str:
    """Upload a sheet with one bad row, run the good one, and wait for the batch to end."""
    await page.goto(f"{site.base_url}/dashboard")
    sheet = await asyncio.to_thread(
        sheet_bytes, ["a red fox with a long prompt in the snow", "a blue owl --stylize 5000"]
    )
    await page.get_by_label("Sheet (").set_input_files(
        {"name": "a-sheet-with-a-rather-long-file-name.xlsx", "mimeType": XLSX, "buffer": sheet}
    )
    await page.get_by_role("button", name="Check the sheet").click()
    await page.get_by_role("heading", name="Rows to fix").wait_for()
    overflow = await horizontal_overflow(page)
    assert overflow is None, f"the check page scrolls sideways: {overflow}"
    await page.get_by_role("button", name="Run the 1 valid row").click()
    await page.wait_for_url("**/dashboard/batches/*")
    await page.get_by_role("heading", name="Downloads").wait_for()
    return page.url.removeprefix(site.base_url)


async def test_pages_fit_phone_width(phone: PhoneSession) -> None:
    overflowing: dict[str, str] = {}
    for path in (*ACCOUNT_PAGES, *phone.object_pages):
        await phone.page.goto(f"{phone.site.base_url}{path}")
        overflow = await horizontal_overflow(phone.page)
        if overflow is not None:
            overflowing[path] = overflow

    assert overflowing == {}


async def test_public_pages_fit_phone_width(browser: Browser, phone: PhoneSession) -> None:
    context = await browser.new_context(viewport=PHONE)
    try:
        page = await context.new_page()
        overflowing: dict[str, str] = {}
        for path in PUBLIC_PAGES:
            await page.goto(f"{phone.site.base_url}{path}")
            overflow = await horizontal_overflow(page)
            if overflow is not None:
                overflowing[path] = overflow
    finally:
        await context.close()

    assert overflowing == {}


async def test_every_control_has_label(phone: PhoneSession) -> None:
    unlabelled: dict[str, list[str]] = {}
    for path in (*ACCOUNT_PAGES, *phone.object_pages, *PUBLIC_PAGES):
        await phone.page.goto(f"{phone.site.base_url}{path}")
        found = await unlabelled_controls(phone.page)
        if found:
            unlabelled[path] = found

    assert unlabelled == {}


async def test_text_contrast_meets_wcag_aa(phone: PhoneSession) -> None:
    low: dict[str, list[str]] = {}
    for path in (*ACCOUNT_PAGES, *phone.object_pages, *PUBLIC_PAGES):
        await phone.page.goto(f"{phone.site.base_url}{path}")
        found = await low_contrast_text(phone.page)
        if found:
            low[path] = found

    assert low == {}


@pytest.mark.parametrize(
    ("path", "controls"),
    [
        (
            "/dashboard",
            ["sheet", "upscale", "split_grids", "mode", "connection_id", "Check the sheet"],
        ),
        (
            CONNECTIONS,
            ["connect-token", "connect-channel", "connect-plan", "connect-label", "Connect"],
        ),
        ("/dashboard/support", ["support-subject", "support-body", "Send"]),
        (
            "/dashboard/data",
            ["Download my data", "Restrict processing", "Withdraw consent", "Delete my account…"],
        ),
    ],
)
async def test_tab_reaches_form_controls_in_order(
    phone: PhoneSession, path: str, controls: list[str]
) -> None:
    await phone.page.goto(f"{phone.site.base_url}{path}")

    focused = await tab_through(phone.page, presses=60)

    names = [element["name"] for element in focused]
    missing = [control for control in controls if control not in names]
    assert missing == [], f"Tab never reaches {missing} on {path}; it reaches {names}"
    positions = [names.index(control) for control in controls]
    assert positions == sorted(positions), names
    assert focused[0]["name"] == "Skip to content"
    without_indicator = [element["name"] for element in focused if not element["indicator"]]
    assert without_indicator == []
