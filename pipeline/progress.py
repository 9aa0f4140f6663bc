"""Batch progress and results that the engine sends to the surfaces (Discord bot, web, CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Choices that apply to every row unless the row's own cell sets another value."""

    default_upscales: tuple[int, ...] = ()  # 1-4; () means no upscales
    split_grids: bool = False
    mode: str = "fast"  # fast, relax or turbo


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """Counts of a batch's jobs by state, and an estimate of the time left."""

    batch_id: int
    status: str  # storage.models.BatchStatus value
    total: int
    done: int
    failed: int
    running: int  # submitted, waiting, running or upscaling
    queued: int
    skipped: int = 0
    cancelled: int = 0
    eta_seconds: float | None = None
    discord_channel_id: str | None = None
    progress_message_id: str | None = None

    @property
    def finished(self) -> int:
        """Return how many jobs have reached a final state."""
        return self.done + self.failed + self.skipped + self.cancelled


@dataclass(frozen=True, slots=True)
class BatchSummary:
    """The totals printed and posted when a batch ends."""

    rows_total: int
    rows_done: int
    rows_failed: int
    rows_skipped: int
    rows_cancelled: int
    jobs_total: int
    images: int
    elapsed_seconds: float


@dataclass(frozen=True, slots=True)
class BatchResult:
    """A finished batch and its output files."""

    batch_id: int
    status: str
    summary: BatchSummary
    zip_paths: list[Path] = field(default_factory=list)
    report_path: Path | None = None
    discord_channel_id: str | None = None
    progress_message_id: str | None = None
    # Signed download links carry it, so they never open a later batch with the same id.
    created_at: datetime | None = None


class BatchListener(Protocol):
    """Receives batch news; the Discord bot and the demo implement it."""

    async def on_batch_progress(self, progress: BatchProgress) -> None: ...

    async def on_batch_finished(self, result: BatchResult) -> None: ...
