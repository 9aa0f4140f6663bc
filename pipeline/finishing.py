"""Tell listeners about batch progress, and package each batch once all its jobs are final."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.batches import count_jobs_by_status, list_settled_batch_ids, progress_from_counts
from pipeline.ledger import JobLedger
from pipeline.packager import package_batch
from pipeline.progress import BatchListener, BatchProgress, BatchResult, BatchSummary
from storage.models import Batch, BatchStatus, JobStatus, utcnow

if TYPE_CHECKING:
    from storage.blobs import LocalBlobStore

log = logging.getLogger(__name__)

# Changes within this many seconds share one progress read. Each read counts a batch's jobs
# by status, and a busy account changes a dozen jobs a second; listeners throttle far more
# (the bot edits at most every 5 s), so nobody sees the delay.
PROGRESS_COALESCE_SECONDS = 0.1


class BatchFinisher:
    """Send progress to listeners as jobs change, and package settled batches."""

    def __init__(
        self, *, ledger: JobLedger, blobs: LocalBlobStore, outputs_dir: Path, part_limit_bytes: int
    ) -> None:
        self.ledger = ledger
        self.blobs = blobs
        self.outputs_dir = outputs_dir
        self.part_limit_bytes = part_limit_bytes
        self.listeners: list[BatchListener] = []
        self._dirty: set[int] = set()
        self._changed = asyncio.Event()
        self._settling: set[int] = set()
        self._waiters: dict[int, list[asyncio.Future[BatchResult]]] = {}
        self._results: dict[int, BatchResult] = {}
        # Seconds a connection delays its sends (the daily cap, a back-off). The engine sets it.
        self.hold_seconds: Callable[[int | None], float] = lambda _connection_id: 0.0

    def forget(self, batch_id: int) -> None:
        """Drop the kept result of a batch that was deleted."""
        self._results.pop(batch_id, None)

    def mark_changed(self, batch_id: int) -> None:
        """Note that a batch changed; listeners hear of it on the next turn of the loop."""
        self._dirty.add(batch_id)
        self._changed.set()

    async def run(self) -> None:
        """Deliver progress and settle batches until cancelled."""
        await self.settle_ready_batches()
        while True:
            await self._changed.wait()
            self._changed.clear()
            batch_ids, self._dirty = sorted(self._dirty), set()
            for batch_id in batch_ids:
                try:
                    await self._report(batch_id)
                except Exception:
                    log.exception("batch %s: reporting progress failed", batch_id)
            await asyncio.sleep(PROGRESS_COALESCE_SECONDS)

    async def settle_ready_batches(self) -> None:
        """Package every started batch whose jobs are all final (also after a restart)."""
        async with self.ledger.db.sessions() as session:
            batch_ids = await list_settled_batch_ids(session)
        for batch_id in batch_ids:
            await self.settle(batch_id)

    async def _report(self, batch_id: int) -> None:
        try:
            progress = await self.progress(batch_id)
        except LookupError:
            return
        await self._tell_progress(progress)
        if progress.finished == progress.total and progress.status in _SETTLEABLE:
            await self.settle(batch_id)

    async def progress(self, batch_id: int) -> BatchProgress:
        """Return a batch's progress; raise LookupError for an unknown batch."""
        async with self.ledger.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            counts = await count_jobs_by_status(session, batch_id)
        progress = progress_from_counts(batch, counts)
        hold = self.hold_seconds(batch.connection_id) if batch.finished_at is None else 0.0
        if hold <= 0 or progress.finished == progress.total:
            return progress
        # Nothing goes out before the delay ends, and the pace so far resumes after it.
        eta = round(hold + (progress.eta_seconds or 0.0), 1)
        return replace(progress, eta_seconds=eta)

    async def settle(self, batch_id: int) -> None:
        """Package a batch whose jobs are all final, record its end and tell the listeners."""
        if batch_id in self._settling:
            return
        self._settling.add(batch_id)
        try:
            cancelled = await self._start_packaging(batch_id)
            if cancelled is None:
                return
            result = await self._package(batch_id, cancelled)
        finally:
            self._settling.discard(batch_id)
        self._results[batch_id] = result
        for waiter in self._waiters.pop(batch_id, []):
            if not waiter.done():
                waiter.set_result(result)
        await self._tell_finished(result)

    async def _start_packaging(self, batch_id: int) -> bool | None:
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None or batch.finished_at is not None:
                return None
            cancelled = batch.status == BatchStatus.CANCELLED
            if not cancelled:
                batch.status = BatchStatus.PACKAGING
        self.mark_changed(batch_id)
        return cancelled

    async def _package(self, batch_id: int, cancelled: bool) -> BatchResult:
        out_dir = self.outputs_dir / str(batch_id)
        try:
            package = await package_batch(
                self.ledger.db,
                self.blobs,
                batch_id,
                out_dir,
                part_limit_bytes=self.part_limit_bytes,
            )
        except Exception:
            log.exception("batch %s: packaging failed", batch_id)
            return await self._record_end(batch_id, BatchStatus.FAILED, [], None, None)
        status = BatchStatus.CANCELLED if cancelled else BatchStatus.DONE
        return await self._record_end(
            batch_id, status, package.zip_paths, package.report_path, package.summary
        )

    async def _record_end(
        self,
        batch_id: int,
        status: BatchStatus,
        zip_paths: list[Path],
        report_path: Path | None,
        summary: BatchSummary | None,
    ) -> BatchResult:
        async with self.ledger.transaction() as session:
            batch = await session.get(Batch, batch_id)
            assert batch is not None  # checked by _start_packaging
            batch.status = status
            batch.finished_at = utcnow()
            batch.zip_keys = [str(path) for path in zip_paths]
            batch.report_key = str(report_path) if report_path else None
            counts = await count_jobs_by_status(session, batch_id)
        log.info("batch %s finished: %s, %d ZIP part(s)", batch_id, status, len(zip_paths))
        self.mark_changed(batch_id)
        return _result(batch, summary or _summary_from_counts(batch, counts))

    async def result(self, batch_id: int) -> BatchResult | None:
        """Return the result of a finished batch, or None while it runs."""
        if batch_id in self._results:
            return self._results[batch_id]
        async with self.ledger.db.sessions() as session:
            batch = await session.get(Batch, batch_id)
            if batch is None:
                raise LookupError(f"batch {batch_id} not found")
            if batch.finished_at is None:
                return None
            counts = await count_jobs_by_status(session, batch_id)
        return _result(batch, _summary_from_counts(batch, counts))

    async def wait_finished(self, batch_id: int) -> BatchResult:
        """Wait until a batch has been packaged and return its result."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(batch_id, []).append(waiter)
        finished = await self.result(batch_id)
        if finished is not None:
            self._waiters[batch_id].remove(waiter)
            return finished
        return await waiter

    async def _tell_progress(self, progress: BatchProgress) -> None:
        for listener in list(self.listeners):
            try:
                await listener.on_batch_progress(progress)
            except Exception:
                log.exception("batch %s: a listener failed on progress", progress.batch_id)

    async def _tell_finished(self, result: BatchResult) -> None:
        for listener in list(self.listeners):
            try:
                await listener.on_batch_finished(result)
            except Exception:
                log.exception("batch %s: a listener failed on the result", result.batch_id)


_SETTLEABLE = frozenset(
    {BatchStatus.QUEUED.value, BatchStatus.RUNNING.value, BatchStatus.CANCELLED.value}
)


def _result(batch: Batch, summary: BatchSummary) -> BatchResult:
    return BatchResult(
        batch_id=batch.id,
        status=batch.status.value,
        summary=summary,
        zip_paths=[Path(path) for path in batch.zip_keys or ()],
        report_path=Path(batch.report_key) if batch.report_key else None,
        discord_channel_id=batch.discord_channel_id,
        progress_message_id=batch.progress_message_id,
        created_at=batch.created_at,
    )


def _summary_from_counts(batch: Batch, counts: dict[JobStatus, int]) -> BatchSummary:
    # Job counts stand in for row counts when the packager's summary is not at hand.
    elapsed = 0.0
    if batch.started_at and batch.finished_at:
        elapsed = (batch.finished_at - batch.started_at).total_seconds()
    return BatchSummary(
        rows_total=sum(counts.values()),
        rows_done=counts.get(JobStatus.DONE, 0),
        rows_failed=counts.get(JobStatus.FAILED, 0),
        rows_skipped=counts.get(JobStatus.SKIPPED, 0),
        rows_cancelled=counts.get(JobStatus.CANCELLED, 0),
        jobs_total=sum(counts.values()),
        images=0,
        elapsed_seconds=elapsed,
    )
