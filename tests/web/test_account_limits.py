"""Login rate limits: only failures count, per client and email, seen through trusted proxies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from midjau.settings import WebSettings
from tests.web.site import PASSWORD, Site, WebClient, start_site
from web.accounts.devices import DEVICE_COOKIE
from web.accounts.limits import (
    FAILED_LOGINS_PER_CLIENT_AND_EMAIL,
    FAILED_LOGINS_PER_DEVICE,
    FAILED_LOGINS_PER_EMAIL,
)

OWNER = "owner@example.com"
PROXY_SITE = {"trusted_proxies": ["127.0.0.1"]}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with start_site(tmp_path, with_sandbox=False, web=PROXY_SITE) as running:
        async with WebClient(running.base_url) as client:
            await client.sign_up_and_log_in(running, OWNER, PASSWORD)
        yield running


async def log_in_from(
    client: WebClient, password: str, forwarded_for: str | None = None, email: str = OWNER
) -> int:
    """Post the login form as a proxy would for ``forwarded_for``; return the status."""
    token = await client.csrf_token("/login")
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    data = {"email": email, "password": password, "csrf_token": token}
    async with client.http.post(
        client.url("/login"), data=data, headers=headers, allow_redirects=False
    ) as response:
        return response.status


async def test_successful_logins_are_not_limited(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = [await log_in_from(client, PASSWORD) for _ in range(8)]

    assert statuses == [303] * 8


async def test_successful_login_clears_failures(site: Site) -> None:
    almost = FAILED_LOGINS_PER_CLIENT_AND_EMAIL - 1
    async with WebClient(site.base_url) as client:
        first = [await log_in_from(client, "wrong guess") for _ in range(almost)]
        success = await log_in_from(client, PASSWORD)
        second = [await log_in_from(client, "wrong guess") for _ in range(almost)]
        last = await log_in_from(client, PASSWORD)

    assert first == second == [401] * almost
    assert (success, last) == (303, 303)


async def test_failures_from_one_ip_do_not_lock_out_other_users(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = {
            await log_in_from(client, "spray", email=f"user{number}@example.com")
            for number in range(25)
        }
        owner_status = await log_in_from(client, PASSWORD)

    assert statuses == {401}
    assert owner_status == 303


async def test_stranger_behind_proxy_cannot_lock_out_owner(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        stranger = [
            await log_in_from(client, "guess", forwarded_for="203.0.113.5")
            for _ in range(FAILED_LOGINS_PER_CLIENT_AND_EMAIL + 1)
        ]
        owner = await log_in_from(client, PASSWORD, forwarded_for="198.51.100.7")

    assert stranger[-1] == 429
    assert owner == 303


async def lock_out_owner(site: Site) -> list[int]:
    """Guess the owner's password once from each of more addresses than the email limit."""
    async with WebClient(site.base_url) as stranger:
        return [
            await log_in_from(stranger, "guess", forwarded_for=f"203.0.113.{attempt}")
            for attempt in range(FAILED_LOGINS_PER_EMAIL + 1)
        ]


async def test_known_browser_logs_in_while_address_locked(site: Site) -> None:
    async with WebClient(site.base_url) as owner, WebClient(site.base_url) as new_browser:
        first = await log_in_from(owner, PASSWORD)
        guesses = await lock_out_owner(site)
        new_browser_status = await log_in_from(new_browser, PASSWORD, "198.51.100.7")
        owner_status = await log_in_from(owner, PASSWORD, "198.51.100.7")

    assert first == 303
    assert guesses[-1] == 429
    assert new_browser_status == 429
    assert owner_status == 303


async def test_known_browser_login_keeps_strangers_locked(site: Site) -> None:
    async with WebClient(site.base_url) as owner, WebClient(site.base_url) as stranger:
        await log_in_from(owner, PASSWORD)
        await lock_out_owner(site)
        owner_status = await log_in_from(owner, PASSWORD, "198.51.100.7")
        stranger_status = await log_in_from(stranger, "guess", "203.0.113.99")

    assert owner_status == 303
    assert stranger_status == 429


async def test_known_browser_has_own_failure_limit(site: Site) -> None:
    async with WebClient(site.base_url) as owner:
        await log_in_from(owner, PASSWORD)
        # From a new address each time, so only the device's own limit can apply.
        statuses = [
            await log_in_from(owner, "wrong guess", f"198.51.100.{attempt}")
            for attempt in range(FAILED_LOGINS_PER_DEVICE + 1)
        ]

    assert statuses == [401] * FAILED_LOGINS_PER_DEVICE + [429]


async def test_logout_everywhere_ends_device_cookies(site: Site) -> None:
    async with WebClient(site.base_url) as owner:
        await log_in_from(owner, PASSWORD)
        await owner.post_form("/logout/everywhere", {}, from_page="/dashboard")
        await lock_out_owner(site)
        kept_cookie = owner.cookie(DEVICE_COOKIE)
        status = await log_in_from(owner, PASSWORD, "198.51.100.7")

    assert kept_cookie is not None
    assert status == 429


async def test_forged_device_cookie_counts_as_unknown(site: Site) -> None:
    async with WebClient(site.base_url) as owner:
        owner.http.cookie_jar.update_cookies({DEVICE_COOKIE: "abc.0123456789abcdef"})
        await lock_out_owner(site)
        status = await log_in_from(owner, PASSWORD, "198.51.100.7")

    assert status == 429


async def test_ipv6_block_counts_as_one_client(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = [
            await log_in_from(client, "guess", forwarded_for=f"2001:db8:5:6::{attempt + 1:x}")
            for attempt in range(FAILED_LOGINS_PER_CLIENT_AND_EMAIL + 1)
        ]

    assert statuses[-1] == 429


async def test_forged_left_entries_do_not_reset_the_count(site: Site) -> None:
    async with WebClient(site.base_url) as client:
        statuses = [
            await log_in_from(client, "guess", forwarded_for=f"10.9.9.{attempt}, 203.0.113.5")
            for attempt in range(FAILED_LOGINS_PER_CLIENT_AND_EMAIL + 1)
        ]

    assert statuses[-1] == 429


async def test_forwarded_header_ignored_without_trusted_proxy(tmp_path: Path) -> None:
    async with start_site(tmp_path, with_sandbox=False) as plain_site:
        async with WebClient(plain_site.base_url) as client:
            statuses = [
                await log_in_from(client, "guess", forwarded_for=f"203.0.113.{attempt}")
                for attempt in range(FAILED_LOGINS_PER_CLIENT_AND_EMAIL + 1)
            ]

    assert statuses[-1] == 429


def test_trusted_proxy_must_be_address() -> None:
    with pytest.raises(ValidationError, match="not an IP address or network"):
        WebSettings(trusted_proxies=["proxy.local"])
