"""Tell a render stopped by moderation from one whose progress message made way for its grid.

Midjourney deletes a render's progress message when the final grid arrives, and also
when moderation stops the render mid-way. A deletion therefore fails the render only when
no grid follows within a grace period, and none is found in channel history either (its
gateway event may have been lost). Renders are a job's own (variation None) or one of
its variations (V<n>, variation n).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection

from pipeline.tracker.matching import JobIndex, TrackedJob
from pipeline.variations import PRE_GRID_VARIATION_STATUSES

log = logging.getLogger(__name__)

# A job's own render (None) or its variation V<n> (n).
RenderId = tuple[str, int | None]
# Records the failure of a render whose progress message was deleted; runs under the
# tracker's lock.
DeletionFailer = Callable[[RenderId, str], Awaitable[None]]
# Feeds the channel history since a render was sent to the tracker; runs outside its lock.
HistoryLookUp = Callable[[RenderId], Awaitable[None]]


class DeletionWatch:
    """Start a grace timer for each deleted progress message, and stop it when a grid comes."""

    def __init__(
        self,
        index: JobIndex,
        fail: DeletionFailer,
        lock: asyncio.Lock,
        grace: float,
        look_up: HistoryLookUp | None = None,
    ) -> None:
        self.index = index
        self.fail = fail
        self.lock = lock
        self.grace = grace
        self.look_up = look_up
        self._timers: dict[RenderId, asyncio.Task[None]] = {}

    def on_deleted(self, message_id: str) -> None:
        """Start the grace timer of the render whose progress message was deleted."""
        render = self._rendering_with_progress(message_id)
        if render is None or render in self._timers:
            return
        self._timers[render] = asyncio.create_task(self._fail_if_no_grid(render, message_id))

    def on_job_changed(self, job: TrackedJob | None, job_id: str) -> None:
        """Stop the timers of a job's renders that got their grid or left (``job`` None)."""
        rendering: list[int | None] = []
        if job is not None:
            rendering = [] if job.grid_message_id else [None]
            rendering += [
                render.index
                for render in job.variations
                if render.status in PRE_GRID_VARIATION_STATUSES
            ]
        self._cancel(job_id, keep=rendering)

    async def close(self) -> None:
        """Cancel the pending checks."""
        timers = list(self._timers.values())
        self._timers.clear()
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    def _rendering_with_progress(self, message_id: str) -> RenderId | None:
        """Return the render whose progress message this is, while it has no grid."""
        job = self.index.find("progress", message_id)
        if job is not None:
            return None if job.grid_message_id else (job.job_id, None)
        found = self.index.find_variation("progress", message_id)
        if found is None or found[1].status not in PRE_GRID_VARIATION_STATUSES:
            return None
        return found[0].job_id, found[1].index

    async def _fail_if_no_grid(self, render: RenderId, message_id: str) -> None:
        await asyncio.sleep(self.grace)
        self._timers.pop(render, None)
        if self.look_up is not None:
            try:
                await self.look_up(render)
            except Exception as error:
                log.warning(
                    "job %s: history look-up for a missing grid failed: %s", render[0], error
                )
        try:
            async with self.lock:
                await self.fail(render, message_id)
        except Exception:
            log.exception("job %s: recording the deleted progress message failed", render[0])

    def _cancel(self, job_id: str, keep: Collection[int | None]) -> None:
        for render in [render for render in self._timers if render[0] == job_id]:
            if render[1] not in keep:
                self._timers.pop(render).cancel()
