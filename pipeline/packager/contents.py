"""The contents of a batch's outputs, read from its stored rows, jobs and images.

These functions take a chunk of the batch's rows as loaded from the database and return
plain values (image references, report lines, totals), so the file writing that follows
needs no database and can run in a thread. ``BatchTally`` adds up the totals chunk by
chunk, so no step needs the whole batch in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.packager.naming import ImageRef
from pipeline.packager.report import CellValue, ReportLine
from pipeline.progress import BatchSummary
from storage.models import (
    Batch,
    FailureCategory,
    Job,
    JobStatus,
    MidjourneyConnection,
    RowStatus,
    SheetRow,
    utcnow,
)

DISCORD_MESSAGE_URL = "https://discord.com/channels/{guild}/{channel}/{message}"


def image_refs(rows: Sequence[SheetRow], present: Mapping[str, int]) -> list[ImageRef]:
    """Return a reference for every image of ``rows`` whose blob is present (key -> size)."""
    refs = []
    for row in rows:
        if not row.jobs:
            continue
        several_permutations = len({job.permutation_index for job in row.jobs}) > 1
        several_repeats = len({job.repeat_index for job in row.jobs}) > 1
        for job in row.jobs:
            for image in job.images:
                if image.blob_key not in present:
                    continue
                refs.append(
                    ImageRef(
                        image_id=image.id,
                        row_number=row.row_number,
                        filename=row.filename,
                        folder=row.folder,
                        # Each permutation is named after its own prompt ("a red boat").
                        prompt=job.prompt,
                        permutation=job.permutation_index + 1 if several_permutations else 0,
                        repeat=job.repeat_index + 1 if several_repeats else 0,
                        kind=image.kind,
                        index=image.index,
                        blob_key=image.blob_key,
                    )
                )
    return refs


def report_lines(
    batch: Batch,
    rows: Sequence[SheetRow],
    connections: Mapping[int, MidjourneyConnection],
    archive_names: Mapping[int, str],
) -> list[ReportLine]:
    """Return the Jobs sheet's lines of ``rows``: one per job, and one per row without jobs."""
    lines = []
    for row in rows:
        original = tuple(_original_cell(row, header) for header in batch.headers)
        if not row.jobs:
            lines.append(_row_line(row, original))
            continue
        for job in row.jobs:
            connection = connections.get(job.connection_id or batch.connection_id or -1)
            files = tuple(archive_names[i.id] for i in job.images if i.id in archive_names)
            lines.append(_job_line(row, job, original, files, discord_link(connection, job)))
    return lines


def failed_row_cells(batch: Batch, rows: Sequence[SheetRow]) -> list[tuple[CellValue, ...]]:
    """Return the original cells of each row that failed, was invalid or was cancelled."""
    return [
        tuple(_original_cell(row, header) for header in batch.headers)
        for row in rows
        if row_outcome(row) in ("failed", "cancelled")
    ]


def _original_cell(row: SheetRow, header: object) -> CellValue:
    value = row.values.get(str(header), "")
    return value if isinstance(value, str | int | float) else str(value)


def _row_line(row: SheetRow, original: tuple[CellValue, ...]) -> ReportLine:
    category = FailureCategory.INVALID.value if row.status is RowStatus.INVALID else ""
    reason = row.reason or (
        "no jobs were created for this row" if row.status is RowStatus.ACCEPTED else ""
    )
    return ReportLine(
        original=original,
        row_number=row.row_number,
        prompt="",
        status=row.status.value,
        failure_category=category,
        failure_message=reason,
        attempts=None,
        midjourney_job_id="",
        image_files=(),
        discord_link="",
        sent_at=None,
        started_at=None,
        finished_at=None,
    )


def _job_line(
    row: SheetRow,
    job: Job,
    original: tuple[CellValue, ...],
    files: tuple[str, ...],
    link: str,
) -> ReportLine:
    return ReportLine(
        original=original,
        row_number=row.row_number,
        prompt=job.prompt,
        status=job.status.value,
        failure_category=job.failure_category.value if job.failure_category else "",
        failure_message=job.failure_message,
        attempts=job.attempts,
        midjourney_job_id=job.midjourney_job_id or "",
        image_files=files,
        discord_link=link,
        sent_at=job.sent_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def discord_link(connection: MidjourneyConnection | None, job: Job) -> str:
    """Return the link to the job's grid message, or '' when it is not known."""
    if connection is None or not job.grid_message_id:
        return ""
    return DISCORD_MESSAGE_URL.format(
        guild=connection.guild_id, channel=connection.channel_id, message=job.grid_message_id
    )


def row_outcome(row: SheetRow) -> str:
    """Return how a row ended: done, failed, cancelled or skipped.

    A row fails when any of its jobs failed or never reached a final state; an invalid
    row counts as failed.
    """
    if not row.jobs:
        return "failed" if row.status is RowStatus.INVALID else "skipped"
    statuses = {job.status for job in row.jobs}
    if JobStatus.FAILED in statuses or any(not status.is_final for status in statuses):
        return "failed"
    if JobStatus.CANCELLED in statuses:
        return "cancelled"
    if JobStatus.DONE in statuses:
        return "done"
    return "skipped"


@dataclass(slots=True)
class BatchTally:
    """The totals of a batch, added up one chunk of rows at a time."""

    rows: int = 0
    rows_invalid: int = 0
    jobs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[JobStatus] = field(default_factory=Counter)
    categories: Counter[FailureCategory] = field(default_factory=Counter)
    last_finish: datetime | None = None

    def add(self, rows: Sequence[SheetRow]) -> None:
        """Count ``rows``, their outcomes and their jobs."""
        for row in rows:
            self.rows += 1
            self.rows_invalid += row.status is RowStatus.INVALID
            self.outcomes[row_outcome(row)] += 1
            for job in row.jobs:
                self._add_job(job)

    def _add_job(self, job: Job) -> None:
        self.jobs += 1
        self.statuses[job.status] += 1
        if job.failure_category:
            self.categories[job.failure_category] += 1
        if job.finished_at is not None:
            self.last_finish = max(self.last_finish or job.finished_at, job.finished_at)

    def summary(self, batch: Batch, images: int) -> BatchSummary:
        """Return the batch's totals."""
        return BatchSummary(
            rows_total=self.rows,
            rows_done=self.outcomes["done"],
            rows_failed=self.outcomes["failed"],
            rows_skipped=self.outcomes["skipped"],
            rows_cancelled=self.outcomes["cancelled"],
            jobs_total=self.jobs,
            images=images,
            elapsed_seconds=elapsed_seconds(batch),
        )

    def summary_items(
        self, batch: Batch, summary: BatchSummary, notices: Sequence[str]
    ) -> list[tuple[str, CellValue]]:
        """Return the Summary sheet's lines as (item, value) pairs."""
        items: list[tuple[str, CellValue]] = [
            ("batch", batch.id),
            ("source file", batch.source_filename),
            ("sheet", batch.sheet_name),
            ("started at", batch.started_at or batch.created_at),
            # The report is written before the batch is marked finished, so the end of its
            # work is when its last job ended.
            ("finished at", batch.finished_at or self.last_finish),
            ("elapsed (s)", summary.elapsed_seconds),
            ("rows", summary.rows_total),
            ("rows done", summary.rows_done),
            ("rows failed (invalid rows included)", summary.rows_failed),
            ("rows skipped", summary.rows_skipped),
            ("rows cancelled", summary.rows_cancelled),
            ("rows invalid", self.rows_invalid),
            ("jobs", summary.jobs_total),
        ]
        items += [
            (f"jobs {status.value}", self.statuses[status])
            for status in JobStatus
            if self.statuses[status] or status.is_final
        ]
        items += [
            (f"jobs failed as {category.value}", self.categories[category])
            for category in FailureCategory
        ]
        items += [("images", summary.images), ("time zone", "all times are UTC")]
        items += [("notice", notice) for notice in notices]
        return items


def elapsed_seconds(batch: Batch) -> float:
    """Return the seconds from the batch's start (or creation) to its end (or now)."""
    start = batch.started_at or batch.created_at
    end = batch.finished_at or utcnow()
    return round(max((end - start).total_seconds(), 0.0), 1)
