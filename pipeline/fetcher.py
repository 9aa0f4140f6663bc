"""Store the results Midjourney posts: grids, upscales and variation grids.

A job is done when its grid and every upscale and variation its row requests are in the
blob store. Downloads start as soon as the tracker sees a result and run as owned
background tasks. Once a grid is stored, its upscales are pressed and its variations are
queued. The dispatcher presses the variations when a slot is free, because each one is
a full render.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import select

from midjourney.messages import Attachment, ChannelMessage
from midjourney.replies import Reply, variation_custom_id
from pipeline.batches import options_from_json
from pipeline.completion import ALL_INDEXES, CANCELLED_REASON, JobCompletion
from pipeline.downloading import Downloader, DownloadError, LinkRefresher, without_query
from pipeline.grids import measure_image, split_grid
from pipeline.ledger import JobLedger
from pipeline.tracker.matching import JobIndex, TrackedJob
from pipeline.upscales import ConnectionTools, UpscalePresser
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

__all__ = ["DownloadError", "Fetcher"]

log = logging.getLogger(__name__)


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
        self.index = index
        self.connections = connections
        self.completion = completion or JobCompletion(ledger)
        self.downloader = Downloader(
            http,
            attempts=attempts,
            first_retry_delay=first_retry_delay,
            request_timeout=request_timeout,
            max_parallel=max_parallel,
        )
        self.upscales = UpscalePresser(
            ledger=ledger, index=index, connections=connections, completion=self.completion
        )
        self._tasks: set[asyncio.Task[None]] = set()
        # Results being stored now, so that a second reply for one of them is not stored too.
        self._storing: set[tuple[str, ImageKind, int]] = set()

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

    # Downloads and presses ------------------------------------------------------------------

    async def download(self, url: str, *, refresh: LinkRefresher | None = None) -> bytes:
        """Return the bytes at ``url``; see ``Downloader.download``."""
        return await self.downloader.download(url, refresh=refresh)

    async def press_unanswered(self, job_id: str, history: Sequence[ChannelMessage]) -> list[int]:
        """Press again the job's upscales whose recorded press ``history`` shows no reply to."""
        return await self.upscales.press_unanswered(job_id, history)

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
            await self.upscales.press_requested(job, message, reply)
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
        # A press sent twice (once more after a crash) makes Midjourney post U<n> twice.
        result = (job.job_id, ImageKind.UPSCALE, index)
        if result in self._storing:
            log.info(
                "job %s: U%d in message %s is a repeat; ignored", job.job_id, index, message.id
            )
            return
        self._storing.add(result)  # before any await, so a concurrent repeat finds it
        try:
            if await self._image_stored(*result):
                log.info(
                    "job %s: U%d is already stored; message %s ignored",
                    job.job_id,
                    index,
                    message.id,
                )
                # A process killed between storing the image and this step left it pending.
                await self._upscale_stored(job.job_id, index)
                return
            await self._store_new_upscale(job, index, message, reply)
        finally:
            self._storing.discard(result)

    async def _store_new_upscale(
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

        await self._upscale_stored(job.job_id, index)

    async def _upscale_stored(self, job_id: str, index: int) -> None:
        """Take U<index> off the job's pending upscales, and finish the job if it was the last."""

        def without_index(row: Job) -> dict[str, Any] | None:
            if index not in (row.upscales_pending or ()):
                return None
            pending = [value for value in row.upscales_pending or () if value != index]
            return {"upscales_pending": pending}

        await self.ledger.modify(job_id, without_index, when=[JobStatus.UPSCALING])
        await self.completion.finish_if_complete(job_id)

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
            source_url=without_query(attachment.url),
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

    async def _image_stored(self, job_id: str, kind: ImageKind, index: int) -> bool:
        async with self.ledger.db.sessions() as session:
            found = await session.scalar(
                select(Image.id).where(
                    Image.job_id == job_id, Image.kind == kind, Image.index == index
                )
            )
        return found is not None

    async def _batch_of(self, batch_id: int) -> Batch:
        async with self.ledger.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
        assert batch is not None  # jobs are deleted with their batch
        return batch


def _blob_key(job: TrackedJob, stem: str, attachment: Attachment) -> str:
    suffix = PurePosixPath(attachment.filename).suffix.lower()
    if not suffix or len(suffix) > 6 or not suffix[1:].isalnum():
        suffix = ".png"
    return f"batches/{job.batch_id}/{job.job_id}/{stem}{suffix}"
