"""Fixtures most site tests share: a site without the sandbox, and its owner's browser.

A module that needs the sandbox or other settings defines its own ``site``, and
``browser`` then logs in to that one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.web.site import OWNER_EMAIL, PASSWORD, Site, WebClient, start_site


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(tmp_path, with_sandbox=False) as running:
        yield running


@pytest.fixture
async def browser(site: Site) -> AsyncIterator[WebClient]:
    async with WebClient(site.base_url) as client:
        await client.sign_up_and_log_in(site, OWNER_EMAIL, PASSWORD)
        yield client
