"""A headless Chromium (Debian's package) shared by the browser tests, driven by Playwright.

The browser starts once per session on the session's event loop; each test gets a fresh
context (no cookies, no storage) and runs on that same loop, so the site it starts with
``tests.web.site.start_site`` and the browser share one loop. Every host name except
127.0.0.1 fails to resolve, so no page can reach the internet, yet each attempt still
shows as a request to ``page.on("request")``.

Without ``/usr/bin/chromium`` the tests are skipped, unless ``MIDJAU_REQUIRE_BROWSER=1``
(CI sets it), which makes them fail instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_VARIABLE = "MIDJAU_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    # CI runs as root, where Chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Upper bound for one wait on a page, in milliseconds; a stuck step fails with its locator.
PAGE_TIMEOUT_MS = 30_000


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"the browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but {message}")
    pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Yield one headless Chromium for the whole session."""
    _require_chromium()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """Yield a fresh browser context that accepts downloads."""
    fresh = await browser.new_context(accept_downloads=True)
    fresh.set_default_timeout(PAGE_TIMEOUT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(context: BrowserContext) -> Page:
    """Return a new page of the test's context."""
    return await context.new_page()
