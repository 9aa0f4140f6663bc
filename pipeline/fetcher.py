"""Download results while their CDN links are valid, store them, and press the upscale buttons.

A job is done when its grid and every upscale and variation its row requests are in the
blob store. Downloads start as soon as the tracker sees a result and run as owned
background tasks. Variations are queued here once the grid is stored; the dispatcher
presses them when a slot is free, because each one is a full render.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from sqlalchemy import select

from midjourney.messages import Attachment, ChannelMessage
from midjourney.replies import Reply, upscale_custom_id, variation_custom_id
from midjourney.snowflake import new_nonce
from pipeline.batches import options_from_json
from pipeline.completion import ALL_INDEXES, CANCELLED_REASON, JobCompletion
from pipeline.grids import measure_image, split_grid
from pipeline.ledger import JobLedger
from pipeline.pacing import Pacer
from pipeline.tracker.matching import JobIndex, TrackedJob
from pipeline.variations import (
    VariationRender,
    VariationStatus,
    renders_of,
    stored_renders,
    variation_names,
    without_variations,
)
from storage.models import (
    Batch,
    BatchStatus,
    FailureCategory,
    Image,
    ImageKind,
    Job,
    JobStatus,
    utcnow,
)

if TYPE_CHECKING:
    from storage.blobs import LocalBlobStore

log = logging.getLogger(__name__)

# Statuses of a signed CDN link that has expired or been revoked: refresh it, do not retry.
EXPIRED_LINK_STATUSES = frozenset({403, 404, 410})


class DownloadError(Exception):
    """A result could not be downloaded; the message names the file and the cause."""


class Presser(Protocol):
    """The part of a relay the fetcher uses: button presses and link refreshes."""

    async def press(self, message_id: str, custom_id: str, *, nonce: str | None = None) -> str: ...

    async def refresh_attachment_urls(self, urls: Sequence[str]) -> dict[str, str]: ...


class ConnectionTools(Protocol):
    """A connection's relay and pacer."""

    @property
    def relay(self) -> Presser: ...

    @property
    def pacer(self) -> Pacer: ...


class Fetcher:
    """Store each grid, upscale and variation of a job, splitting grids and pressing upscales."""

    def __init__(
        self,
        *,
        ledger: JobLedger,
        blobs: LocalBlobStore,
        http: aiohttp.ClientSession,
        index: JobIndex,
        connections: Callable[[int | None], ConnectionTools | None],
        completion: JobCompletion | None = None,
        attempts: int = 4,
        first_retry_delay: float = 0.5,
        request_timeout: float = 60.0,
        max_parallel: int = 4,
    ) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.http = http
        self.index = index
        self.connections = connections
        self.completion = completion or JobCompletion(ledger)
        self.attempts = attempts
        self.first_retry_delay = first_retry_delay
        self.request_timeout = request_timeout
        self._slots = asyncio.Semaphore(max_parallel)
        self._tasks: set[asyncio.Task[None]] = set()

    # The tracker's ResultSink -------------------------------------------------------------

    def on_grid(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None:
        """Download a job's grid, then press the upscales its row requests."""
        self._spawn(self._store_grid(job, message, reply), f"grid of job {job.job_id}")

    def on_upscale(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        """Download one upscale of a job."""
        self._spawn(
            self._store_upscale(job, index, message, reply), f"U{index} of job {job.job_id}"
        )

    def on_variation(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        """Download the grid of one variation of a job."""
        self._spawn(
            self._store_variation(job, index, message, reply), f"V{index} of job {job.job_id}"
        )

    async def close(self) -> None:
        """Cancel the downloads in progress and wait for them to stop."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until every download started so far has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _spawn(self, work: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(self._run(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("storing the %s failed", what)

    # Downloads ------------------------------------------------------------------------------

    async def download(self, url: str, *, refresh: Presser | None = None) -> bytes:
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
                    raise DownloadError(f"{_without_query(url)}: {problem}, the link has expired")
                url, refreshed = await _refreshed_url(refresh, url), True
                attempt -= 1
                continue
            if attempt >= self.attempts:
                raise DownloadError(f"{_without_query(url)}: {problem} after {attempt} attempts")
            log.warning(
                "download of %s failed (%s); retrying in %.1f s",
                _without_query(url),
                problem,
                delay,
            )
            await asyncio.sleep(delay)
            delay *= 2

    # Grids ----------------------------------------------------------------------------------

    async def _store_grid(self, job: TrackedJob, message: ChannelMessage, reply: Reply) -> None:
        assert reply.image is not None  # the tracker passes only grids with an image
        tools = self.connections(job.connection_id)
        relay = tools.relay if tools else None
        try:
            data = await self.download(reply.image.url, refresh=relay)
        except DownloadError as error:
            await self.completion.fail(
                job.job_id, FailureCategory.DOWNLOAD, f"The grid could not be downloaded: {error}."
            )
            return

        key = _blob_key(job, "grid", reply.image)
        await self._save_image(job, ImageKind.GRID, 0, key, data, reply.image, message.id)
        batch = await self._batch_of(job.batch_id)
        if options_from_json(batch.options).split_grids:
            await self._save_quadrants(job, data, message.id)

        if batch.status == BatchStatus.CANCELLED:
            await self.completion.drop(
                job.job_id, CANCELLED_REASON, upscales=ALL_INDEXES, category=None
            )
        else:
            await self._press_upscales(job, message, reply, tools)
            await self._queue_variations(job, message, reply)
            batch = await self._batch_of(job.batch_id)
        # Variations pressed before a restart keep rendering; the others are dropped here,
        # also when the cancellation was committed while they were being queued.
        if batch.status == BatchStatus.CANCELLED:
            await self.completion.cancel_unsent(job.job_id)
        await self.completion.finish_if_complete(job.job_id)

    async def _save_quadrants(self, job: TrackedJob, data: bytes, message_id: str) -> None:
        for part in await split_grid(data):
            key = f"batches/{job.batch_id}/{job.job_id}/quadrant-{part.index}.png"
            await self.blobs.put(key, part.data)
            image = Image(
                job_id=job.job_id,
                kind=ImageKind.QUADRANT,
                index=part.index,
                blob_key=key,
                width=part.width,
                height=part.height,
                size=len(part.data),
                discord_message_id=message_id,
            )
            await self._insert_image(image)

    async def _press_upscales(
        self, job: TrackedJob, message: ChannelMessage, reply: Reply, tools: ConnectionTools | None
    ) -> None:
        for index in sorted(job.upscales_pending):
            custom_id = upscale_custom_id(reply.buttons or message.buttons, index)
            if custom_id is None:
                await self._drop_upscale(job.job_id, index, f"the grid has no U{index} button")
                continue
            if tools is None:
                await self._drop_upscale(job.job_id, index, "its Discord connection is not running")
                continue
            if not await self._claim_press(job.job_id, index):
                log.info("job %s: U%d was pressed before a restart; awaiting it", job.job_id, index)
                continue
            nonce = new_nonce()
            self.index.add_press(nonce, job.job_id, index)
            try:
                async with tools.pacer.turn():
                    await tools.relay.press(message.id, custom_id, nonce=nonce)
            except Exception as error:
                log.warning("job %s: pressing U%d failed: %s", job.job_id, index, error)
                await self._drop_upscale(job.job_id, index, f"pressing U{index} failed ({error})")
                continue
            log.debug("job %s: pressed U%d on grid %s", job.job_id, index, message.id)

    async def _claim_press(self, job_id: str, index: int) -> bool:
        """Commit that U<index> is being pressed; return False if it already was."""

        def compute(row: Job) -> dict[str, Any] | None:
            if index in (row.upscales_pressed or ()):
                return None
            return {"upscales_pressed": [*(row.upscales_pressed or ()), index]}

        return await self.ledger.modify(job_id, compute) is not None

    async def _queue_variations(
        self, job: TrackedJob, message: ChannelMessage, reply: Reply
    ) -> None:
        """Queue the job's variations for the dispatcher, with the V buttons of its grid."""
        buttons = reply.buttons or message.buttons
        missing: list[int] = []

        def compute(row: Job) -> dict[str, Any] | None:
            renders = renders_of(row)
            missing.clear()
            for index in row.variations_pending or ():
                custom_id = variation_custom_id(buttons, index)
                if custom_id is None:
                    missing.append(index)
                elif index not in renders:
                    # Queued once only: after a restart the grid is handled again.
                    renders[index] = VariationRender(index, custom_id, stage_started_at=utcnow())
            if len(renders) == len(row.variation_renders or ()):
                return None
            return {"variation_renders": stored_renders(renders.values())}

        await self.ledger.modify(job.job_id, compute, when=[JobStatus.UPSCALING])
        if missing:
            await self.completion.drop(
                job.job_id,
                f"the grid has no {variation_names(missing)} button",
                variations=missing,
            )

    # Upscales -------------------------------------------------------------------------------

    async def _store_upscale(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        assert reply.image is not None  # the tracker passes only upscales with an image
        tools = self.connections(job.connection_id)
        try:
            data = await self.download(reply.image.url, refresh=tools.relay if tools else None)
        except DownloadError as error:
            await self._drop_upscale(
                job.job_id,
                index,
                f"U{index} could not be downloaded: {error}",
                FailureCategory.DOWNLOAD,
            )
            await self.completion.finish_if_complete(job.job_id)
            return

        key = _blob_key(job, f"upscale-{index}", reply.image)
        await self._save_image(job, ImageKind.UPSCALE, index, key, data, reply.image, message.id)

        def without_index(row: Job) -> dict[str, Any] | None:
            pending = [value for value in row.upscales_pending or () if value != index]
            return {"upscales_pending": pending}

        await self.ledger.modify(job.job_id, without_index, when=[JobStatus.UPSCALING])
        await self.completion.finish_if_complete(job.job_id)

    async def _drop_upscale(
        self,
        job_id: str,
        index: int,
        reason: str,
        category: FailureCategory = FailureCategory.MIDJOURNEY_ERROR,
    ) -> None:
        await self.completion.drop(job_id, reason, upscales=[index], category=category)

    # Variations -----------------------------------------------------------------------------

    async def _store_variation(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        assert reply.image is not None  # the tracker passes only variation grids with an image
        tools = self.connections(job.connection_id)
        try:
            data = await self.download(reply.image.url, refresh=tools.relay if tools else None)
        except DownloadError as error:
            await self.completion.drop(
                job.job_id,
                f"its grid could not be downloaded: {error}",
                variations=[index],
                category=FailureCategory.DOWNLOAD,
            )
            await self.completion.finish_if_complete(job.job_id)
            return

        key = _blob_key(job, f"variation-{index}", reply.image)
        await self._save_image(job, ImageKind.VARIATION, index, key, data, reply.image, message.id)

        def stored(row: Job) -> dict[str, Any] | None:
            render = renders_of(row).get(index)
            if render is None or render.status != VariationStatus.RENDERED:
                return None
            return without_variations(row, [index])

        await self.ledger.modify(job.job_id, stored, when=[JobStatus.UPSCALING])
        await self.completion.finish_if_complete(job.job_id)

    # Rows -----------------------------------------------------------------------------------

    async def _save_image(
        self,
        job: TrackedJob,
        kind: ImageKind,
        index: int,
        key: str,
        data: bytes,
        attachment: Attachment,
        message_id: str,
    ) -> None:
        width, height = attachment.width, attachment.height
        if not width or not height:
            size = await measure_image(data)
            width, height = size.width, size.height
        await self.blobs.put(key, data)
        image = Image(
            job_id=job.job_id,
            kind=kind,
            index=index,
            blob_key=key,
            width=width,
            height=height,
            size=len(data),
            discord_message_id=message_id,
            source_url=_without_query(attachment.url),
        )
        await self._insert_image(image)
        log.debug("job %s: stored %s %d as %s", job.job_id, kind, index, key)

    async def _insert_image(self, image: Image) -> None:
        # A result seen twice (both streams, or history after a restart) is stored once.
        async with self.ledger.transaction() as session:
            existing = await session.scalar(
                select(Image.id).where(
                    Image.job_id == image.job_id,
                    Image.kind == image.kind,
                    Image.index == image.index,
                )
            )
            if existing is None:
                session.add(image)

    async def _batch_of(self, batch_id: int) -> Batch:
        async with self.ledger.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
        assert batch is not None  # jobs are deleted with their batch
        return batch


async def _refreshed_url(relay: Presser, url: str) -> str:
    # Discord's refresh endpoint takes the link without its signature and returns a fresh
    # signed one. Either form may key the result, so both are looked up.
    bare = _without_query(url)
    refreshed = await relay.refresh_attachment_urls([bare])
    new_url = refreshed.get(bare) or refreshed.get(url)
    if new_url is None and len(refreshed) == 1:
        new_url = next(iter(refreshed.values()))
    if not new_url:
        raise DownloadError(f"{bare}: the link has expired and Discord did not refresh it")
    log.info("refreshed the expired link of %s", bare)
    return new_url


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _blob_key(job: TrackedJob, stem: str, attachment: Attachment) -> str:
    suffix = PurePosixPath(attachment.filename).suffix.lower()
    if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
        suffix = ".png"
    return f"batches/{job.batch_id}/{job.job_id}/{stem}{suffix}"
