"""The variation renders of a job: V1–V4 pressed on its grid, each a full Midjourney render.

A variation is stored on its parent job: ``Job.variations_pending`` lists the indexes still
to make, and ``Job.variation_renders`` contains one JSON object per variation that is queued
for a slot or pressed, with the keys its messages are matched by. Every change is a
committed job row, so after a restart nothing is pressed twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.batches import DISPATCHABLE_BATCH_STATUSES
from storage.models import Batch, BatchStatus, Job, JobStatus, utcnow


class VariationStatus(StrEnum):
    """The stage of one variation render: the stages of a job's own render, up to its grid."""

    QUEUED = "queued"  # waiting for one of the account's slots
    SUBMITTED = "submitted"  # V<n> pressed; no reply from Midjourney yet
    WAITING = "waiting"  # "Waiting to start" or "Job queued" at Midjourney
    RUNNING = "running"  # progress edits arriving
    RENDERED = "rendered"  # its grid arrived; the download is pending


# Renders that hold one of the account's Midjourney slots.
IN_FLIGHT_VARIATION_STATUSES = frozenset(
    {VariationStatus.SUBMITTED, VariationStatus.WAITING, VariationStatus.RUNNING}
)
# Renders that may still receive a waiting, progress, grid or error message.
PRE_GRID_VARIATION_STATUSES = IN_FLIGHT_VARIATION_STATUSES

_TIMES = ("sent_at", "stage_started_at")

# The changes that put a variation back in the queue, forgetting the keys of the last press.
VARIATION_REQUEUE: dict[str, Any] = {
    "status": VariationStatus.QUEUED,
    "nonce": None,
    "interaction_id": None,
    "progress_message_id": None,
    "midjourney_job_id": None,
    "sent_at": None,
}


@dataclass(frozen=True, slots=True)
class VariationRender:
    """One variation of a job: the V button to press and the keys of its render."""

    index: int
    custom_id: str
    status: VariationStatus = VariationStatus.QUEUED
    attempts: int = 0
    nonce: str | None = None
    interaction_id: str | None = None
    progress_message_id: str | None = None
    midjourney_job_id: str | None = None
    grid_message_id: str | None = None
    sent_at: datetime | None = None
    # When the current stage began, for the per-stage timeouts.
    stage_started_at: datetime | None = None

    @property
    def in_flight(self) -> bool:
        """Return whether the render occupies one of the account's slots."""
        return self.status in IN_FLIGHT_VARIATION_STATUSES

    @property
    def name(self) -> str:
        """Return the button name, "V2"."""
        return f"V{self.index}"

    def changed(self, **changes: Any) -> VariationRender:
        """Return a copy with ``changes``; a new status also restarts the stage timer."""
        updated = replace(self, **changes)
        if updated.status != self.status:
            updated = replace(updated, stage_started_at=utcnow())
        return updated

    def to_json(self) -> dict[str, Any]:
        """Return the render as stored in ``Job.variation_renders``."""
        data: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            data[field.name] = value.isoformat() if isinstance(value, datetime) else value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VariationRender:
        """Read a render stored by ``to_json``, tolerating missing keys."""
        known = {field.name for field in fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        for name in _TIMES:
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        values["status"] = VariationStatus(values.get("status", VariationStatus.QUEUED))
        return cls(**values)


def renders_of(job: Job) -> dict[int, VariationRender]:
    """Return a job's variation renders by index."""
    renders = (VariationRender.from_json(data) for data in job.variation_renders or ())
    return {render.index: render for render in renders}


def stored_renders(renders: Iterable[VariationRender]) -> list[dict[str, Any]]:
    """Return renders in the form ``Job.variation_renders`` stores, by index."""
    return [render.to_json() for render in sorted(renders, key=lambda render: render.index)]


def change_render(
    job: Job, index: int, when: Collection[VariationStatus], **changes: Any
) -> dict[str, Any] | None:
    """Return the job changes that apply ``changes`` to V``index``.

    Return None when the job has no such render, the render is not in one of the
    statuses ``when`` lists, or nothing would change.
    """
    renders = renders_of(job)
    current = renders.get(index)
    if current is None or current.status not in when:
        return None
    updated = current.changed(**changes)
    if updated == current:
        return None
    renders[index] = updated
    return {"variation_renders": stored_renders(renders.values())}


def without_variations(job: Job, indexes: Collection[int]) -> dict[str, Any]:
    """Return the job changes that forget variations ``indexes``: pending and renders."""
    pending = [index for index in job.variations_pending or () if index not in indexes]
    renders = [render for render in renders_of(job).values() if render.index not in indexes]
    return {"variations_pending": pending, "variation_renders": stored_renders(renders)}


def variation_names(indexes: Iterable[int]) -> str:
    """Return "V1, V3" for indexes 1 and 3."""
    return ", ".join(f"V{index}" for index in sorted(indexes))


# Queries of the dispatcher ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueuedVariation:
    """A variation that waits for a slot: its job, grid message and button."""

    job_id: str
    batch_id: int
    mode: str
    grid_message_id: str
    render: VariationRender


@dataclass(frozen=True, slots=True)
class VariationWork:
    """The variation renders of one account: how many hold slots, and those queued."""

    in_flight_by_mode: dict[str, int]
    queued: list[QueuedVariation]


async def read_variation_work(session: AsyncSession, connection_id: int) -> VariationWork:
    """Return the account's variations in flight by mode and those queued, oldest job first.

    Only jobs past their grid (UPSCALING) have renders. Queued renders of batches that
    may not send (cancelled, awaiting confirmation) are left out.
    """
    rows = await session.execute(
        select(Job, Batch.status)
        .join(Batch, Job.batch_id == Batch.id)
        .where(Job.connection_id == connection_id, Job.status == JobStatus.UPSCALING)
        .order_by(Job.batch_id, Job.sequence)
    )
    in_flight: dict[str, int] = {}
    queued: list[QueuedVariation] = []
    for job, batch_status in rows.all():
        for render in renders_of(job).values():
            if render.in_flight:
                in_flight[job.mode] = in_flight.get(job.mode, 0) + 1
            elif render.status == VariationStatus.QUEUED and _may_send(batch_status, job):
                queued.append(
                    QueuedVariation(
                        job.id, job.batch_id, job.mode, job.grid_message_id or "", render
                    )
                )
    return VariationWork(in_flight, queued)


def _may_send(batch_status: BatchStatus, job: Job) -> bool:
    return batch_status in DISPATCHABLE_BATCH_STATUSES and job.grid_message_id is not None


def first_queued(
    queued: Sequence[QueuedVariation], modes: Collection[str]
) -> QueuedVariation | None:
    """Return the first queued variation whose job's mode may use a free slot."""
    return next((variation for variation in queued if variation.mode in modes), None)
