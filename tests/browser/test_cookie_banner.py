"""The cookie banner in a real browser: no request to Google or Meta before consent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from playwright.async_api import Page, Request

from tests.browser.steps import answer_cookie_banner
from tests.web.site import Site, start_site

pytestmark = pytest.mark.asyncio(loop_scope="session")

GA4_ID = "G-BROWSER42"
PIXEL_ID = "424242424242"
GOOGLE_HOSTS = ("googletagmanager.com", "google-analytics.com", "analytics.google.com")
META_HOSTS = ("facebook.net", "facebook.com")
PAGES = ("/", "/privacy", "/terms", "/login", "/signup")


class RequestLog:
    """Every request a page makes, including those that fail to resolve."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.urls.append(request.url)

    def to(self, hosts: tuple[str, ...], *, since: int = 0) -> list[str]:
        """Return the URLs from index ``since`` on whose host is or ends with one of ``hosts``."""
        return [url for url in self.urls[since:] if _host_in(url, hosts)]


def _host_in(url: str, hosts: tuple[str, ...]) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == known or host.endswith(f".{known}") for known in hosts)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Serve one site with both measurement ids; each test is a new visitor to it."""
    measurement = {"ga4_measurement_id": GA4_ID, "meta_pixel_id": PIXEL_ID}
    folder = tmp_path_factory.mktemp("cookie-banner")
    async with start_site(folder, with_sandbox=False, web=measurement) as running:
        yield running


async def test_no_request_to_google_or_meta_before_consent(page: Page, site: Site) -> None:
    requests = RequestLog(page)

    for path in PAGES:
        await page.goto(f"{site.base_url}{path}")
        await page.wait_for_load_state("networkidle")
    banner_open = await page.locator("#cookie-banner").is_visible()

    assert banner_open
    assert len(requests.urls) >= len(PAGES)  # the log does see the site's own requests
    assert requests.to(GOOGLE_HOSTS) == []
    assert requests.to(META_HOSTS) == []


async def test_scripts_load_after_opting_in(page: Page, site: Site) -> None:
    requests = RequestLog(page)
    await page.goto(f"{site.base_url}/")

    async with page.expect_request(lambda request: _host_in(request.url, META_HOSTS)):
        await page.locator("#cookie-banner").get_by_role("button", name="Accept all").click()
    await page.wait_for_load_state("networkidle")

    assert any(f"id={GA4_ID}" in url for url in requests.to(GOOGLE_HOSTS))
    assert any(url.endswith("/fbevents.js") for url in requests.to(META_HOSTS))
    assert await page.locator("#cookie-banner").is_hidden()


async def test_reject_all_keeps_scripts_out(page: Page, site: Site) -> None:
    requests = RequestLog(page)
    await page.goto(f"{site.base_url}/")

    await answer_cookie_banner(page, "Reject all")
    await page.reload()
    await page.goto(f"{site.base_url}/privacy")
    await page.wait_for_load_state("networkidle")

    assert await page.locator("#cookie-banner").is_hidden()
    assert requests.to(GOOGLE_HOSTS + META_HOSTS) == []


async def test_footer_cookie_settings_changes_choice(page: Page, site: Site) -> None:
    requests = RequestLog(page)
    await page.goto(f"{site.base_url}/")
    async with page.expect_request(lambda request: _host_in(request.url, META_HOSTS)):
        await page.locator("#cookie-banner").get_by_role("button", name="Accept all").click()
    await page.wait_for_load_state("networkidle")

    # Turn marketing off from the footer; analytics stays on.
    await page.locator("#cookie-settings").click()
    banner = page.locator("#cookie-banner")
    await banner.wait_for(state="visible")
    analytics_focused = await banner.get_by_label("Analytics (Google Analytics 4)").evaluate(
        "box => document.activeElement === box"
    )
    await banner.get_by_label("Marketing (Meta Pixel)").uncheck()
    async with page.expect_navigation():
        await banner.get_by_role("button", name="Save choices").click()
    await page.wait_for_load_state("networkidle")
    after_change = len(requests.urls)
    await page.goto(f"{site.base_url}/privacy")
    await page.wait_for_load_state("networkidle")

    assert analytics_focused  # keyboard users land in the opened banner
    assert await banner.is_hidden()
    assert await page.locator("#cookie-banner").get_attribute("data-marketing") == "false"
    assert requests.to(GOOGLE_HOSTS, since=after_change) != []
    assert requests.to(META_HOSTS, since=after_change) == []


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (360, 740)])
async def test_open_banner_leaves_page_buttons_usable(
    page: Page, site: Site, width: int, height: int
) -> None:
    await page.set_viewport_size({"width": width, "height": height})
    for path, button in (("/signup", "Sign up"), ("/login", "Log in")):
        await page.goto(f"{site.base_url}{path}")
        await page.locator("#cookie-banner").wait_for(state="visible")

        # A trial click scrolls the button into view and fails if the banner covers it.
        target = page.locator("main").get_by_role("button", name=button, exact=True)
        await target.click(trial=True, timeout=3000)
