"""Re-attach jobs in flight after a restart, from the channel history of their connection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from midjourney.messages import ChannelMessage
from midjourney.replies import classify
from pipeline.catch_up import read_missed_history
from pipeline.connections import ConnectionRuntime
from pipeline.tracker import ResultSink, Tracker
from pipeline.tracker.matching import TrackedJob
from pipeline.variations import VariationStatus
from storage.models import JobStatus

log = logging.getLogger(__name__)


class RecoveredResults(ResultSink, Protocol):
    """Stores results and presses buttons again; the fetcher implements it."""

    async def press_unanswered(
        self, job_id: str, history: Sequence[ChannelMessage]
    ) -> list[int]: ...


async def reattach_jobs(
    runtime: ConnectionRuntime, tracker: Tracker, results: RecoveredResults
) -> None:
    """Match the replies that arrived while no process listened to the connection's jobs.

    Jobs keep their nonce and message ids across the restart, so the history since the
    oldest of them was sent is fed through the tracker like live events. An upscale
    recorded as pressed that history shows no reply to was lost with the last process
    (killed before the press went out), so it is pressed once more. Grids of jobs and of
    their variations that had arrived but were not stored yet are handed to ``results``
    again. Handling a job's grid again queues the variations it had not queued yet, and
    never presses one twice.

    Prompts and variation presses recorded but never sent are left to the timeout sweep:
    each one is a full render, so it is sent again only after its "no waiting message"
    timeout has passed with nothing in history.
    """
    in_flight = [job for job in tracker.index.jobs() if job.connection_id == runtime.connection_id]
    history = await read_missed_history(runtime, tracker)
    if history is None:
        return
    log.info(
        "connection %s: matched %d history messages to %d jobs in flight",
        runtime.connection_id,
        len(history),
        len(in_flight),
    )
    for job in in_flight:
        await results.press_unanswered(job.job_id, history)
    _resume_grids(in_flight, history, tracker, results)


def _resume_grids(
    jobs: list[TrackedJob], history: list[ChannelMessage], tracker: Tracker, results: ResultSink
) -> None:
    by_id = {message.id: message for message in history}
    for job in jobs:
        current = tracker.index.get(job.job_id)
        if current is None or current.status != JobStatus.UPSCALING:
            continue
        message = by_id.get(current.grid_message_id or "")
        if message is not None:
            results.on_grid(current, message, classify(message))
        for render in current.variations:
            message = by_id.get(render.grid_message_id or "")
            if render.status == VariationStatus.RENDERED and message is not None:
                results.on_variation(current, render.index, message, classify(message))
