"""A small run of the batch benchmark: its figures are complete and every job ends DONE."""

from __future__ import annotations

import math
from pathlib import Path

from bench.batch_throughput import BenchConfig, run_batch_benchmark
from bench.results import format_result

JOBS = 20
JOB_SECONDS = 0.2


async def test_small_batch_benchmark_completes(tmp_path: Path) -> None:
    config = BenchConfig(jobs=JOBS, job_seconds=JOB_SECONDS, min_gap_seconds=0.0)

    result = await run_batch_benchmark(config, tmp_path)

    assert result.statuses == {"done": JOBS}
    assert result.all_done
    assert result.slots == 12  # the pro plan
    assert result.job_seconds == JOB_SECONDS
    assert result.ideal_seconds == math.ceil(JOBS / 12) * JOB_SECONDS
    # Twenty jobs on twelve slots need two rounds of the simulated job time at least.
    assert result.wall_seconds >= result.ideal_seconds
    assert 0 < result.utilisation <= 1
    assert result.mean_hold_seconds >= JOB_SECONDS
    assert result.started_to_grid_seconds >= JOB_SECONDS - 0.002  # snowflakes count whole ms
    assert result.cpu_seconds > 0
    assert result.zip_bytes > 0
    assert result.report_bytes > 0
    assert result.peak_rss_mib >= result.baseline_rss_mib > 0
    # The sandbox ran in a child process, so its usage is reported apart from MidJAu's.
    assert result.sandbox_cpu_seconds is not None
    assert result.sandbox_cpu_seconds > 0


async def test_result_table_names_each_figure(tmp_path: Path) -> None:
    config = BenchConfig(jobs=3, job_seconds=0.1, min_gap_seconds=0.0, sandbox_in_process=True)

    result = await run_batch_benchmark(config, tmp_path)
    table = format_result(result)

    assert result.statuses == {"done": 3}
    assert result.sandbox_cpu_seconds is None
    for label in ("wall / ideal", "slot utilisation", "CPU per job", "packaging", "peak"):
        assert label in table
