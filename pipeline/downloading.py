"""Download result files from Discord's CDN, retrying with back-off and refreshing expired links."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

log = logging.getLogger(__name__)

# Statuses of a signed CDN link that has expired or been revoked: refresh it, do not retry.
EXPIRED_LINK_STATUSES = frozenset({403, 404, 410})


class DownloadError(Exception):
    """A result could not be downloaded; the message names the file and the cause."""


class LinkRefresher(Protocol):
    """The part of a relay that signs expired attachment links again."""

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]: ...


class Downloader:
    """Fetch files over HTTP, a few at a time, with retries and one link refresh."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        attempts: int = 4,
        first_retry_delay: float = 0.5,
        request_timeout: float = 60.0,
        max_parallel: int = 4,
    ) -> None:
        self.http = http
        self.attempts = attempts
        self.first_retry_delay = first_retry_delay
        self.request_timeout = request_timeout
        self._slots = asyncio.Semaphore(max_parallel)

    async def download(self, url: str, *, refresh: LinkRefresher | None = None) -> bytes:
        """Return the bytes at ``url``, retrying with exponential back-off.

        An expired signed link (403, 404, 410) is refreshed once through ``refresh``;
        raise DownloadError when the file cannot be had.
        """
        attempt, delay, refreshed = 0, self.first_retry_delay, False
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        while True:
            attempt += 1
            try:
                async with self._slots, self.http.get(url, timeout=timeout) as response:
                    if response.status == 200:
                        return await response.read()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as error:
                status, problem = None, f"{type(error).__name__}: {error}"
            else:
                problem = f"HTTP {status}"

            if status in EXPIRED_LINK_STATUSES:
                if refresh is None or refreshed:
                    raise DownloadError(f"{without_query(url)}: {problem}, the link has expired")
                url, refreshed = await _refreshed_url(refresh, url), True
                attempt -= 1
                continue
            if attempt >= self.attempts:
                raise DownloadError(f"{without_query(url)}: {problem} after {attempt} attempts")
            log.warning(
                "download of %s failed (%s); retrying in %.1f s",
                without_query(url),
                problem,
                delay,
            )
            await asyncio.sleep(delay)
            delay *= 2


def without_query(url: str) -> str:
    """Return ``url`` without its query, which contains the CDN signature."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


async def _refreshed_url(relay: LinkRefresher, url: str) -> str:
    # Discord's refresh endpoint takes the link without its signature and returns a fresh
    # signed one. Either form may key the result, so both are looked up.
    bare = without_query(url)
    refreshed = await relay.refresh_attachment_urls([bare])
    new_url = refreshed.get(bare) or refreshed.get(url)
    if new_url is None and len(refreshed) == 1:
        new_url = next(iter(refreshed.values()))
    if not new_url:
        raise DownloadError(f"{bare}: the link has expired and Discord did not refresh it")
    log.info("refreshed the expired link of %s", bare)
    return new_url
