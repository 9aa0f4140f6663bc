"""End a job once its grid and every upscale and variation its row requests are settled.

After its grid a job waits in UPSCALING for its U and V results. Each one is either
stored or given up with a note on the job. When none is left, the job ends DONE when
nothing was given up, FAILED when something failed, and CANCELLED when only the batch's
cancellation stopped it. The failure message then lists what was saved.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from pipeline.ledger import JobLedger
from pipeline.variations import (
    VariationRender,
    VariationStatus,
    renders_of,
    without_variations,
)
from storage.models import FailureCategory, Image, ImageKind, Job, JobStatus

log = logging.getLogger(__name__)

# Pass as ``upscales`` or ``variations`` to give up on every pending one.
ALL_INDEXES = frozenset({1, 2, 3, 4})
CANCELLED_REASON = "the batch was cancelled before its button was pressed"


class JobCompletion:
    """Give up on a job's pending results and finish the job when none is left."""

    def __init__(self, ledger: JobLedger) -> None:
        self.ledger = ledger

    async def drop(
        self,
        job_id: str,
        reason: str,
        *,
        upscales: Collection[int] = (),
        variations: Collection[int] = (),
        category: FailureCategory | None = FailureCategory.MIDJOURNEY_ERROR,
        when: Collection[VariationStatus] | None = None,
    ) -> bool:
        """Give up on the pending upscales and variations listed, noting why on the job.

        ``category`` None records a cancellation: a job that lost results only to it
        ends CANCELLED instead of FAILED. With ``when``, a variation is given up only
        while its render is in one of those statuses, so a late event cannot undo a
        later stage. Return whether anything was given up.
        """

        def compute(row: Job) -> dict[str, Any] | None:
            renders = renders_of(row)
            lost_upscales = [i for i in row.upscales_pending or () if i in upscales]
            lost_variations = [
                i
                for i in row.variations_pending or ()
                if i in variations and (when is None or _render_in(renders.get(i), when))
            ]
            if not lost_upscales and not lost_variations:
                return None
            names = [f"U{i}" for i in lost_upscales] + [f"V{i}" for i in lost_variations]
            note = f"{', '.join(names)} missing: {reason.rstrip('.')}."
            return {
                "upscales_pending": [
                    i for i in row.upscales_pending or () if i not in lost_upscales
                ],
                **without_variations(row, lost_variations),
                "failure_category": row.failure_category or category,
                "failure_message": f"{row.failure_message} {note}".strip(),
            }

        dropped = await self.ledger.modify(job_id, compute, when=[JobStatus.UPSCALING])
        if dropped is not None:
            log.info("job %s: gave up on results: %s", job_id, reason)
        return dropped is not None

    async def give_up_after_grid(self, job_id: str, reason: str) -> None:
        """End a job stuck after its grid: keep what was stored and note what is missing.

        Variations already queued for a slot or pressed keep their own timers; only those
        that never got that far are given up here.
        """
        if not await self.grid_stored(job_id):
            await self.fail(
                job_id, FailureCategory.TIMED_OUT, f"The grid was not stored: {reason}."
            )
            return
        job = await self.ledger.get(job_id)
        if job is None:
            return
        unqueued = set(job.variations_pending or ()) - set(renders_of(job))
        await self.drop(
            job_id,
            reason,
            upscales=ALL_INDEXES,
            variations=unqueued,
            category=FailureCategory.TIMED_OUT,
        )
        await self.finish_if_complete(job_id)

    async def cancel_unsent(self, job_id: str) -> None:
        """Give up on the variations of a cancelled batch's job that were not pressed yet."""
        job = await self.ledger.get(job_id)
        if job is None or job.status != JobStatus.UPSCALING:
            return
        renders = renders_of(job)
        unsent = [
            index
            for index in job.variations_pending or ()
            if index not in renders or renders[index].status == VariationStatus.QUEUED
        ]
        await self.drop(
            job_id,
            CANCELLED_REASON,
            variations=unsent,
            category=None,
        )
        await self.finish_if_complete(job_id)

    async def finish_if_complete(self, job_id: str) -> None:
        """End a job whose grid is stored and whose upscales and variations are all settled."""
        job = await self.ledger.get(job_id)
        if job is None or job.status != JobStatus.UPSCALING:
            return
        if job.upscales_pending or job.variations_pending:
            return
        # Read after the pending lists: each result is stored before it leaves its list.
        saved = await self._saved_results(job_id)
        if not saved:
            return

        def compute(row: Job) -> dict[str, Any] | None:
            if row.upscales_pending or row.variations_pending:
                return None
            if row.failure_category is None and not row.failure_message:
                return {"status": JobStatus.DONE}
            status = JobStatus.FAILED if row.failure_category else JobStatus.CANCELLED
            return {
                "status": status,
                "failure_message": f"{row.failure_message} {_saved_sentence(saved)}",
            }

        finished = await self.ledger.modify(job_id, compute, when=[JobStatus.UPSCALING])
        if finished is not None:
            log.info("job %s %s", job_id, finished.status)

    async def fail(self, job_id: str, category: FailureCategory, message: str) -> None:
        """Fail a job past its grid outright, forgetting whatever it still waited for."""
        await self.ledger.update(
            job_id,
            when=[JobStatus.UPSCALING],
            status=JobStatus.FAILED,
            failure_category=category,
            failure_message=message,
            upscales_pending=[],
            variations_pending=[],
            variation_renders=[],
        )
        log.warning("job %s failed: %s", job_id, message)

    async def grid_stored(self, job_id: str) -> bool:
        """Return whether the job's grid is in the blob store."""
        async with self.ledger.db.sessions() as session:
            grid = await session.scalar(
                select(Image.id).where(Image.job_id == job_id, Image.kind == ImageKind.GRID)
            )
        return grid is not None

    async def _saved_results(self, job_id: str) -> list[str]:
        """Return "the grid", "U2", "V1"… for the job's stored results; empty without a grid."""
        async with self.ledger.db.sessions() as session:
            rows = await session.execute(
                select(Image.kind, Image.index)
                .where(Image.job_id == job_id)
                .order_by(Image.kind, Image.index)
            )
            images = rows.all()
        kinds = {kind for kind, _ in images}
        if ImageKind.GRID not in kinds:
            return []
        upscales = [f"U{index}" for kind, index in images if kind == ImageKind.UPSCALE]
        variations = [f"V{index}" for kind, index in images if kind == ImageKind.VARIATION]
        return ["the grid", *upscales, *variations]


def _render_in(render: VariationRender | None, statuses: Collection[VariationStatus]) -> bool:
    return render is not None and render.status in statuses


def _saved_sentence(saved: list[str]) -> str:
    """Return "The grid was saved." or "The grid, U1 and V2 were saved."."""
    if len(saved) == 1:
        return f"{saved[0].capitalize()} was saved."
    listed = f"{', '.join(saved[:-1])} and {saved[-1]}"
    return f"{listed[0].upper()}{listed[1:]} were saved."
