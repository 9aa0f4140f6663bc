"""Discord's own errors during a batch: stale command versions, 429s and expired links.

MidJAu handles each as Discord expects: it reloads the command index, waits
``retry_after`` or refreshes the link. No row fails, and nothing hot-loops.
The sandbox logs every REST request, so the tests read the pacing from that log.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from midjau.demo import _is_result_post
from midjau.settings import SandboxSettings
from sandbox.discord.ratelimits import RequestRecord
from tests.faults.rig import REPLY_TIMEOUT, Outcome, Product, read_outcome, start_product

pytestmark = pytest.mark.e2e

INTERACTIONS = "/interactions"
COMMAND_INDEX = "/guilds/{guild_id}/application-command-index"
CHANNEL_MESSAGES = "/channels/{channel_id}/messages"
CHANNEL_MESSAGE = "/channels/{channel_id}/messages/{message_id}"
REFRESH_URLS = "/attachments/refresh-urls"
# Allowance for timer and clock granularity when checking a wait.
SLACK = 0.02


async def test_stale_command_version_resends_once(tmp_path: Path) -> None:
    # The basic plan runs three jobs at once, so the fourth prompt is sent only after the
    # version changed.
    async with start_product(tmp_path, plan="basic") as product:
        batch_id = await product.run_sheet([f"a paper boat number {n}" for n in range(1, 7)])
        await wait_for_jobs(product, 3)
        since = time.monotonic()
        product.knobs.bump_command_version()
        outcome = await product.finish(batch_id)
        interactions = requests_since(product, since, "POST", INTERACTIONS)
        index_loads = requests_since(product, since, "GET", COMMAND_INDEX)

    assert [line.status for line in outcome.lines] == ["done"] * 6
    assert [line.attempts for line in outcome.lines] == [1] * 6
    assert [record.status for record in interactions] == [400, 204, 204, 204]
    assert len(index_loads) == 1
    assert interactions[0].at <= index_loads[0].at <= interactions[1].at
    assert len(product.sandbox.midjourney.jobs) == 6  # type: ignore[union-attr]


async def test_rate_limited_interactions_wait_retry_after(tmp_path: Path) -> None:
    retry_after = 0.3
    async with start_product(tmp_path, plan="basic") as product:
        batch_id = await product.run_sheet([f"a paper boat number {n}" for n in range(1, 6)])
        await wait_for_jobs(product, 3)
        since = time.monotonic()
        product.discord.rate_limit_next(
            2, method="POST", route=INTERACTIONS, retry_after=retry_after
        )
        outcome = await product.finish(batch_id)
        interactions = requests_since(product, since, "POST", INTERACTIONS)

    assert [line.status for line in outcome.lines] == ["done"] * 5
    assert [line.attempts for line in outcome.lines] == [1] * 5
    assert [record.status for record in interactions] == [429, 429, 204, 204]
    assert_waited_after_each_429(interactions, retry_after)


async def test_long_429_streak_backs_off(tmp_path: Path) -> None:
    retry_after = 0.05
    backoff = 0.5  # the rig's queue_full_backoff_seconds
    streak = 14
    async with start_product(tmp_path, plan="basic") as product:
        batch_id = await product.run_sheet([f"a paper boat number {n}" for n in range(1, 6)])
        await wait_for_jobs(product, 3)
        since = time.monotonic()
        product.discord.rate_limit_next(
            streak, method="POST", route=INTERACTIONS, retry_after=retry_after
        )
        outcome = await product.finish(batch_id)
        interactions = requests_since(product, since, "POST", INTERACTIONS)

    assert [line.status for line in outcome.lines] == ["done"] * 5
    assert [record.status for record in interactions] == [429] * streak + [204, 204]
    assert_waited_after_each_429(interactions, retry_after)
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(interactions)]
    assert max(gaps) >= backoff - SLACK, "the product kept retrying at Discord's pace"


@pytest.mark.parametrize(
    ("method", "route"), [("POST", CHANNEL_MESSAGES), ("PATCH", CHANNEL_MESSAGE)]
)
async def test_rate_limited_bot_messages_wait_retry_after(
    tmp_path: Path, method: str, route: str
) -> None:
    retry_after = 0.3
    async with start_product(tmp_path) as product:
        batch_id = await product.run_sheet(["a red fox", "a grey owl"])
        product.discord.rate_limit_next(3, method=method, route=route, retry_after=retry_after)
        outcome = await product.finish(batch_id)
        requests = product.discord.requests.matching(method=method, route=route)

    assert [line.status for line in outcome.lines] == ["done"] * 2
    limited = [record for record in requests if record.status == 429]
    assert len(limited) == 3
    assert_waited_after_each_429(requests, retry_after)


async def test_expired_links_are_refreshed(tmp_path: Path) -> None:
    ttl = 60.0
    sandbox = SandboxSettings(time_scale=0.005, attachment_ttl_seconds=ttl)
    async with start_product(tmp_path, sandbox=sandbox) as product:
        batch_id = await product.run_sheet(["a red fox", {"prompt": "a grey owl", "upscale": "U2"}])
        # From here every link in a message arrives expired, as if read long after posting.
        product.discord.cdn.link_age_seconds = 2 * ttl
        await asyncio.wait_for(product.service.engine.wait_finished(batch_id), 60)
        refreshes = product.discord.requests.matching(method="POST", route=REFRESH_URLS)
        outcome = await finish_with_refreshed_links(product, batch_id)

    assert [line.status for line in outcome.lines] == ["done", "done"]
    assert [line.attempts for line in outcome.lines] == [1, 1]
    # Two grids and the upscale U2, each downloaded after one refresh of its link.
    assert len(outcome.images()) == 3, outcome.zip_names
    assert [record.status for record in refreshes] == [200] * 3


def assert_waited_after_each_429(records: list[RequestRecord], retry_after: float) -> None:
    """Check that every request after a 429 on the route came ``retry_after`` later."""
    for limited, following in itertools.pairwise(records):
        if limited.status != 429:
            continue
        waited = following.at - limited.at
        assert waited >= retry_after - SLACK, f"next request after {waited:.3f} s"


def requests_since(product: Product, since: float, method: str, route: str) -> list[RequestRecord]:
    """Return the REST requests with this method and route that arrived after ``since``."""
    records = product.discord.requests.matching(method=method, route=route)
    return [record for record in records if record.at >= since]


async def wait_for_jobs(product: Product, count: int) -> None:
    """Wait until the simulated Midjourney has received ``count`` jobs."""
    simulator = product.sandbox.midjourney
    assert simulator is not None
    async with asyncio.timeout(REPLY_TIMEOUT):
        while len(simulator.jobs) < count:  # noqa: ASYNC110 - the simulator has no event
            await asyncio.sleep(0.01)


async def finish_with_refreshed_links(product: Product, batch_id: int) -> Outcome:
    """Wait for the batch and read its ZIP and report, refreshing their links as a user does."""
    result = await asyncio.wait_for(product.service.engine.wait_finished(batch_id), 60)
    post = await product.user.wait_for_message(
        _is_result_post(product.sandbox, batch_id), timeout=REPLY_TIMEOUT
    )
    attachments = post.get("attachments") or ()
    fresh = await product.user.refresh_urls([str(item["url"]) for item in attachments])
    files = {
        str(item["filename"]): await product.user.download(fresh[str(item["url"])])
        for item in attachments
    }
    return await asyncio.to_thread(read_outcome, batch_id, result, files)
