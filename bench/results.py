"""The outcome of one benchmark run, and the tables printed at the end of a run or series."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class BenchResult:
    """Figures of one batch run; times in seconds, memory in MiB."""

    jobs: int
    slots: int
    job_seconds: float
    min_gap_seconds: float
    grid_long_side: int
    sandbox_in_process: bool
    statuses: dict[str, int]

    create_seconds: float  # storing the batch and its jobs, before it is queued
    wall_seconds: float  # from the batch being queued to its last job being final
    utilisation: float
    mean_hold_seconds: float
    first_send_seconds: float
    mean_refill_seconds: float
    max_refill_seconds: float
    # Mean parts of a slot hold, in seconds (see bench.metrics.HoldBreakdown).
    sent_to_started_seconds: float
    started_to_grid_seconds: float
    grid_to_recorded_seconds: float

    cpu_seconds: float  # MidJAu's process, from the batch being queued to its last job final
    package_seconds: float  # from the last job final to the ZIP and report being written
    package_cpu_seconds: float
    zip_bytes: int
    report_bytes: int

    baseline_rss_mib: float  # after the engine started, before the batch was created
    run_peak_rss_mib: float  # high-water mark when the last job became final
    peak_rss_mib: float  # high-water mark after packaging
    sandbox_cpu_seconds: float | None = None  # None when the sandbox shared the process
    sandbox_peak_rss_mib: float | None = None
    command: list[str] = field(default_factory=list)

    @property
    def ideal_seconds(self) -> float:
        """Return ceil(jobs / slots) × job time: whole rounds of full slots, no overhead."""
        return math.ceil(self.jobs / self.slots) * self.job_seconds

    @property
    def wall_over_ideal(self) -> float:
        """Return the wall time as a multiple of the ideal time."""
        return self.wall_seconds / self.ideal_seconds

    @property
    def simulated_ideal_seconds(self) -> float:
        """Return the ideal time with the job time the simulator actually took.

        The simulated Midjourney sleeps the job time in steps and then renders the grid, so
        its jobs last a little longer than asked; MidJAu cannot make them shorter.
        """
        return math.ceil(self.jobs / self.slots) * self.started_to_grid_seconds

    @property
    def cpu_ms_per_job(self) -> float:
        """Return MidJAu's CPU milliseconds per job while the batch ran."""
        return 1000 * self.cpu_seconds / self.jobs

    @property
    def rss_growth_mib(self) -> float:
        """Return how far the peak resident memory rose above the baseline."""
        return self.peak_rss_mib - self.baseline_rss_mib

    @property
    def all_done(self) -> bool:
        """Return whether every job ended DONE."""
        return self.statuses.get("done", 0) == self.jobs


def format_result(result: BenchResult) -> str:
    """Return the table printed at the end of one run."""
    whose_cpu = "with the sandbox" if result.sandbox_in_process else "MidJAu only"
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(result.statuses.items()))
    rows = [
        ("jobs", f"{result.jobs} ({statuses})"),
        ("slots × job time", f"{result.slots} × {result.job_seconds:g} s"),
        ("pacing gap", f"{result.min_gap_seconds:g} s, no jitter"),
        ("batch stored in", f"{result.create_seconds:.2f} s"),
        ("wall time, queued → last job final", f"{result.wall_seconds:.2f} s"),
        ("ideal, ceil(jobs / slots) × job time", f"{result.ideal_seconds:.2f} s"),
        ("wall / ideal", f"{result.wall_over_ideal:.3f}"),
        (
            "ideal with the simulator's measured job time",
            f"{result.simulated_ideal_seconds:.2f} s "
            f"(wall / that: {result.wall_seconds / result.simulated_ideal_seconds:.3f})",
        ),
        ("slot utilisation", f"{result.utilisation:.3f}"),
        ("mean slot hold per job", f"{result.mean_hold_seconds:.3f} s"),
        (
            "  of which: sent → Midjourney started",
            f"{1000 * result.sent_to_started_seconds:.0f} ms",
        ),
        (
            "  of which: started → grid posted",
            f"{1000 * result.started_to_grid_seconds:.0f} ms",
        ),
        (
            "  of which: grid posted → recorded by MidJAu",
            f"{1000 * result.grid_to_recorded_seconds:.0f} ms",
        ),
        ("queued → first prompt sent", f"{1000 * result.first_send_seconds:.0f} ms"),
        (
            "slot freed → next prompt sent",
            f"mean {1000 * result.mean_refill_seconds:.0f} ms, "
            f"max {1000 * result.max_refill_seconds:.0f} ms",
        ),
        (f"CPU while running ({whose_cpu})", f"{result.cpu_seconds:.2f} s"),
        ("CPU per job", f"{result.cpu_ms_per_job:.1f} ms"),
        (
            "packaging (ZIP + report)",
            f"{result.package_seconds:.2f} s wall, {result.package_cpu_seconds:.2f} s CPU",
        ),
        (
            "ZIP / report size",
            f"{result.zip_bytes / 1024:.0f} KiB / {result.report_bytes / 1024:.0f} KiB",
        ),
        ("resident memory before the batch", f"{result.baseline_rss_mib:.1f} MiB"),
        ("resident memory peak, last job final", f"{result.run_peak_rss_mib:.1f} MiB"),
        ("resident memory peak, after packaging", f"{result.peak_rss_mib:.1f} MiB"),
    ]
    if result.sandbox_cpu_seconds is not None and result.sandbox_peak_rss_mib is not None:
        rows.append(
            (
                "sandbox process (not MidJAu)",
                f"{result.sandbox_cpu_seconds:.2f} s CPU, "
                f"{result.sandbox_peak_rss_mib:.1f} MiB peak",
            )
        )
    return _table(("measure", "value"), rows)


def format_series(results: list[BenchResult]) -> str:
    """Return the table comparing runs of different sizes, each in a fresh process."""
    rows = [
        (
            str(result.jobs),
            f"{result.wall_seconds:.1f}",
            f"{result.ideal_seconds:.1f}",
            f"{result.wall_over_ideal:.3f}",
            f"{result.utilisation:.3f}",
            f"{result.cpu_ms_per_job:.1f}",
            f"{result.package_seconds:.2f}",
            f"{result.baseline_rss_mib:.1f}",
            f"{result.run_peak_rss_mib:.1f}",
            f"{result.peak_rss_mib:.1f}",
        )
        for result in results
    ]
    header = (
        "jobs",
        "wall s",
        "ideal s",
        "wall/ideal",
        "utilisation",
        "CPU ms/job",
        "package s",
        "RSS before MiB",
        "RSS peak running MiB",
        "RSS peak MiB",
    )
    lines = [_table(header, rows)]
    if len(results) >= 2:
        small, large = results[0], results[-1]
        extra_jobs = large.jobs - small.jobs
        if extra_jobs > 0:
            for label, small_peak, large_peak in (
                ("while running", small.run_peak_rss_mib, large.run_peak_rss_mib),
                ("after packaging", small.peak_rss_mib, large.peak_rss_mib),
            ):
                growth = large_peak - small_peak
                lines.append(
                    f"peak memory {label}, {small.jobs} → {large.jobs} jobs: "
                    f"{growth:+.1f} MiB, {growth * 1024 / extra_jobs:+.1f} KiB per job"
                )
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    rule = "  ".join("-" * width for width in widths)
    lines = [_line(header, widths), rule, *(_line(row, widths) for row in rows)]
    return "\n".join(lines)


def _line(cells: tuple[str, ...], widths: list[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
