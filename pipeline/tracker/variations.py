"""Record what Midjourney's replies mean for the variations (V1–V4) of a job.

A variation runs through the stages of a job's own render (waiting, progress, grid), but
its state lives on the parent job's row, in ``Job.variation_renders``. Each change here
is one committed change of that row, made only while the parent waits after its grid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from midjourney.messages import ChannelMessage
from midjourney.replies import Reply, ReplyKind
from pipeline.completion import JobCompletion
from pipeline.job_limits import learn_job_limit
from pipeline.ledger import JobLedger
from pipeline.tracker.failures import describe_failure
from pipeline.tracker.matching import TrackedJob
from pipeline.variations import (
    PRE_GRID_VARIATION_STATUSES,
    VARIATION_REQUEUE,
    VariationRender,
    VariationStatus,
    change_render,
    renders_of,
)
from storage.models import FailureCategory, Job, JobStatus

if TYPE_CHECKING:
    from pipeline.tracker.tracker import ConnectionControl, ResultSink

log = logging.getLogger(__name__)

RenderChanges = Callable[[VariationRender], dict[str, Any] | None]


class VariationRecorder:
    """Move a job's variation renders through their stages as Midjourney replies."""

    def __init__(
        self,
        ledger: JobLedger,
        results: ResultSink,
        control: ConnectionControl,
        completion: JobCompletion,
    ) -> None:
        self.ledger = ledger
        self.results = results
        self.control = control
        self.completion = completion

    async def apply(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        """Record what one Midjourney message means for variation V``index`` of ``job``."""
        kind = reply.kind
        if kind in (ReplyKind.WAITING, ReplyKind.QUEUED, ReplyKind.VARIATION_PLACEHOLDER):
            await self._record_waiting(job, index, message, reply)
        elif kind == ReplyKind.PROGRESS:
            await self._record_progress(job, index, message, reply)
        elif kind == ReplyKind.GRID:
            await self._record_grid(job, index, message, reply)
        elif kind == ReplyKind.QUEUE_FULL:
            # Learn the limit and back off before re-queueing, so the dispatcher cannot press
            # it again at once.
            if job.connection_id is not None:
                await learn_job_limit(self.ledger, job.connection_id)
                self.control.back_off(job.connection_id, "queue full")
            await self.requeue(job, index, "Midjourney's queue is full")
        elif kind in (ReplyKind.ACCOUNT_BLOCKED, ReplyKind.CREDITS_EXHAUSTED):
            reason = " ".join(part for part in (reply.title, reply.detail) if part).strip()
            # Pause before re-queueing, so the dispatcher cannot press it again at once.
            if job.connection_id is not None:
                await self.control.pause(job.connection_id, reason or kind.value)
            await self.requeue(job, index, reason)
        elif kind in (ReplyKind.FAILED, ReplyKind.ACTION_NEEDED, ReplyKind.STOPPED):
            category, detail = describe_failure(reply)
            await self.fail(job.job_id, index, f"Midjourney reported: {detail}", category)

    async def record_interaction(self, job: TrackedJob, index: int, interaction_id: str) -> None:
        """Remember the interaction id Discord gave the press of V``index``."""

        def compute(render: VariationRender) -> dict[str, Any] | None:
            return None if render.interaction_id else {"interaction_id": interaction_id}

        await self._modify(job.job_id, index, compute)

    async def requeue(self, job: TrackedJob, index: int, reason: str) -> None:
        """Put V``index`` back in the queue to be pressed again when a slot is free."""
        requeued = await self._modify(job.job_id, index, lambda _render: VARIATION_REQUEUE)
        if requeued is not None:
            log.info("job %s: V%d back in the queue: %s", job.job_id, index, reason)

    async def fail(
        self,
        job_id: str,
        index: int,
        reason: str,
        category: FailureCategory,
        *,
        when: Collection[VariationStatus] = PRE_GRID_VARIATION_STATUSES,
    ) -> None:
        """Give up on V``index`` while it is in a stage ``when`` lists (default: rendering).

        The job then ends if nothing else is left.
        """
        dropped = await self.completion.drop(
            job_id, reason, variations=[index], category=category, when=when
        )
        if dropped:
            log.info("job %s: V%d failed: %s", job_id, index, reason)
            await self.completion.finish_if_complete(job_id)

    # Stages --------------------------------------------------------------------------------

    async def _record_waiting(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        def compute(render: VariationRender) -> dict[str, Any]:
            changes: dict[str, Any] = {}
            if render.status == VariationStatus.SUBMITTED:
                changes["status"] = VariationStatus.WAITING
            if reply.kind != ReplyKind.QUEUED and not render.progress_message_id:
                changes["progress_message_id"] = message.id
            if message.interaction_id and not render.interaction_id:
                changes["interaction_id"] = message.interaction_id
            return changes

        await self._modify(job.job_id, index, compute)

    async def _record_progress(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        def compute(render: VariationRender) -> dict[str, Any]:
            return {
                "status": VariationStatus.RUNNING,
                "progress_message_id": render.progress_message_id or message.id,
                "midjourney_job_id": render.midjourney_job_id or reply.job_uuid,
            }

        await self._modify(job.job_id, index, compute)

    async def _record_grid(
        self, job: TrackedJob, index: int, message: ChannelMessage, reply: Reply
    ) -> None:
        if reply.image is None:
            log.warning("job %s: V%d grid message %s has no image", job.job_id, index, message.id)
            return

        def compute(render: VariationRender) -> dict[str, Any]:
            return {
                "status": VariationStatus.RENDERED,
                "grid_message_id": message.id,
                "midjourney_job_id": reply.job_uuid or render.midjourney_job_id,
            }

        if await self._modify(job.job_id, index, compute) is not None:
            self.results.on_variation(job, index, message, reply)

    async def _modify(self, job_id: str, index: int, compute: RenderChanges) -> Job | None:
        """Apply the changes ``compute`` derives from V``index`` while it renders, and commit."""

        def job_changes(row: Job) -> dict[str, Any] | None:
            render = renders_of(row).get(index)
            if render is None or render.status not in PRE_GRID_VARIATION_STATUSES:
                return None
            changes = compute(render)
            if not changes:
                return None
            return change_render(row, index, PRE_GRID_VARIATION_STATUSES, **changes)

        return await self.ledger.modify(job_id, job_changes, when=[JobStatus.UPSCALING])
