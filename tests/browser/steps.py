"""What a person does on the site, step by step in the browser, for the browser tests."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

from playwright.async_api import Locator, Page

from tests.web.site import Site, link_in

PASSWORD = "correct horse battery"
CONNECTIONS = "/dashboard/settings/connections"


async def sign_up(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    """Fill in the sign-up form, open the mailed verification link, and log in."""
    await page.goto(f"{site.base_url}/signup")
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_label("I am 13 years old or older.").check()
    await page.locator("#terms_accepted").check()
    await page.get_by_role("button", name="Sign up").click()
    await page.get_by_role("heading", name="Check your mail").wait_for()

    mail = await site.smtp.wait_for(email, "/verify/")
    await page.goto(link_in(mail))
    await page.get_by_text("Your email address is confirmed").wait_for()
    await log_in(page, site, email, password)


async def answer_cookie_banner(page: Page, choice: str) -> None:
    """Press ``choice`` on the open cookie banner and wait until it closes or the page reloads."""
    banner = page.locator("#cookie-banner")
    await banner.get_by_role("button", name=choice).click()
    await banner.wait_for(state="hidden")


async def log_in(page: Page, site: Site, email: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the dashboard."""
    if not page.url.endswith("/login"):
        await page.goto(f"{site.base_url}/login")
    form = page.locator('form[action="/login"]')
    await form.get_by_label("Email address").fill(email)
    await form.get_by_label("Password").fill(password)
    await form.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{site.base_url}/dashboard")


def channel_link(site: Site) -> str:
    """Return the sandbox channel's link as Discord shows it."""
    assert site.sandbox is not None
    return f"https://discord.com/channels/{site.sandbox.guild_id}/{site.sandbox.channel_id}"


async def connect_discord(page: Page, site: Site, label: str) -> Locator:
    """Connect the sandbox user's account with the manual form; return its card."""
    assert site.sandbox is not None
    await page.goto(f"{site.base_url}{CONNECTIONS}")
    await page.get_by_label("Discord token").fill(site.sandbox.user_token)
    await page.get_by_label("Channel link").fill(channel_link(site))
    await page.get_by_label("Name (optional)").fill(label)
    await page.get_by_role("button", name="Connect", exact=True).click()
    await page.get_by_text("Connected. MidJAu checked the account").wait_for()
    card = page.locator("section.card", has=page.get_by_role("heading", name=label))
    await card.get_by_text("Working").wait_for()
    return card


async def download(page: Page, trigger: Locator) -> tuple[str, bytes]:
    """Click ``trigger`` and return the file name and bytes of the download it starts."""
    async with page.expect_download() as started:
        await trigger.click()
    received = await started.value
    failure = await received.failure()
    assert failure is None, f"the download of {received.suggested_filename} failed: {failure}"
    path = await received.path()
    return received.suggested_filename, await asyncio.to_thread(Path(path).read_bytes)


def zip_names(data: bytes) -> list[str]:
    """Return the member names of a ZIP file's bytes."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()
