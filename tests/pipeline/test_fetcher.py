"""Downloads from a local CDN: retries with back-off, and refreshing expired links once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from pipeline.fetcher import DownloadError, Fetcher
from pipeline.ledger import JobLedger
from pipeline.tracker.matching import JobIndex
from tests.pipeline.engine_support import CdnServer, RecordingRelay, png_bytes


@pytest.fixture
async def cdn() -> AsyncIterator[CdnServer]:
    server = CdnServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fetcher(db, blobs) -> AsyncIterator[Fetcher]:
    async with aiohttp.ClientSession() as http:
        yield Fetcher(
            ledger=JobLedger(db),
            blobs=blobs,
            http=http,
            index=JobIndex(),
            connections=lambda _id: None,
            attempts=3,
            first_retry_delay=0.01,
        )


async def test_download_retries_server_errors(cdn, fetcher):
    data = png_bytes()
    url = cdn.add("grid.png", data)
    cdn.failures_left["grid.png"] = 2

    assert await fetcher.download(url) == data
    assert len(cdn.requests) == 3


async def test_download_gives_up_after_attempts(cdn, fetcher):
    url = cdn.add("grid.png", png_bytes())
    cdn.failures_left["grid.png"] = 5

    with pytest.raises(DownloadError, match="HTTP 503 after 3 attempts"):
        await fetcher.download(url)
    assert len(cdn.requests) == 3


async def test_expired_link_is_refreshed_once(cdn, fetcher):
    data = png_bytes()
    url = cdn.add("grid.png", data)
    cdn.expired.add("grid.png")
    relay = RecordingRelay()

    assert await fetcher.download(url, refresh=relay) == data
    assert relay.refreshed == [url.split("?")[0]]
    assert cdn.requests[-1].endswith("hm=fresh")


async def test_expired_link_without_refresh_fails(cdn, fetcher):
    url = cdn.add("grid.png", png_bytes())
    cdn.expired.add("grid.png")

    with pytest.raises(DownloadError, match="expired"):
        await fetcher.download(url)
    assert len(cdn.requests) == 1


async def test_link_still_expired_after_refresh_fails(cdn, fetcher):
    url = cdn.add("gone.png", png_bytes())
    del cdn.files["gone.png"]
    relay = RecordingRelay()

    with pytest.raises(DownloadError, match="HTTP 404"):
        await fetcher.download(url, refresh=relay)
    assert len(relay.refreshed) == 1
