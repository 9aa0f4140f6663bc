"""Export and account deletion in the browser, each behind its own button."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Page
from sqlalchemy import select

from storage.models import User
from tests.browser.steps import PASSWORD, download, sign_up, zip_names
from tests.web.site import Site, start_site

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Site]:
    """Serve one site for the module; each test signs up an account of its own."""
    folder = tmp_path_factory.mktemp("data-rights")
    async with start_site(folder, with_sandbox=False) as running:
        yield running


async def test_export_downloads_zip_of_account(page: Page, site: Site) -> None:
    email = "export@example.com"
    await sign_up(page, site, email)
    await page.goto(f"{site.base_url}/dashboard/data")

    filename, data = await download(page, page.get_by_role("button", name="Download my data"))

    assert filename.startswith("midjau-export-")
    assert filename.endswith(".zip")
    assert "account.json" in zip_names(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        account = json.loads(archive.read("account.json"))
    assert email in json.dumps(account)
    assert "password_hash" not in json.dumps(account)


async def test_delete_account_needs_password_then_deletes(page: Page, site: Site) -> None:
    email = "delete@example.com"
    await sign_up(page, site, email)
    await page.goto(f"{site.base_url}/dashboard/data")
    await page.get_by_role("link", name="Delete my account…").click()

    # A wrong password is the re-authentication failing: nothing is deleted.
    await page.get_by_label("Your password").fill("not my password")
    await page.get_by_label("I understand that my account").check()
    await page.get_by_role("button", name="Delete my account").click()
    refusal = await page.get_by_role("alert").inner_text()
    kept = await _user_id(site, email)

    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_label("I understand that my account").check()
    await page.get_by_role("button", name="Delete my account").click()
    await page.get_by_role("heading", name="Your account is deleted").wait_for()
    await page.goto(f"{site.base_url}/dashboard")

    assert "The password is wrong." in refusal
    assert kept is not None
    assert await _user_id(site, email) is None
    assert page.url.startswith(f"{site.base_url}/login")


async def _user_id(site: Site, email: str) -> int | None:
    async with site.db.sessions() as session:
        return await session.scalar(select(User.id).where(User.email == email))
