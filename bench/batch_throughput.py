"""Run one big batch through the real engine and relay against the sandbox, and measure it.

    python -m bench.batch_throughput                 # 1,000 jobs, 12 slots, 1 s per job
    python -m bench.batch_throughput --jobs 50       # a smoke run of a few seconds
    python -m bench.batch_throughput --series 100 1000   # each size in a fresh process

The sandbox runs in a child process by default, so the CPU and memory figures are those of
MidJAu's process alone. Grids are small (64 px) so that the run measures MidJAu and not
PNG encoding. The pacing gap defaults to 0.02 s with no jitter, so pacing is not the
bottleneck. The product's default pacing is deliberately human: 2 s plus up to 1.5 s of jitter.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from cryptography.fernet import Fernet
from sqlalchemy import select

from bench.metrics import (
    Moment,
    SlotRecorder,
    break_down_holds,
    measure_slot_use,
    resident_memory_mib,
)
from bench.results import BenchResult, format_result, format_series
from bench.sandboxes import REPOSITORY_ROOT, RunningSandbox, SandboxUsage, start_sandbox
from midjau.settings import Settings
from pipeline.engine import Engine
from pipeline.intake.model import SheetIntake, SheetRow
from pipeline.progress import BatchOptions
from storage.blobs import LocalBlobStore
from storage.crypto import TokenCipher
from storage.db import Database
from storage.models import BatchOrigin, Job

log = logging.getLogger(__name__)

SUBJECTS = ("a lighthouse at dusk", "a red fox in the snow", "a city of glass", "a koi pond")


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """One benchmark run: batch size, simulated job time, slots (from the plan) and pacing."""

    jobs: int = 1000
    job_seconds: float = 1.0
    plan: str = "pro"
    min_gap_seconds: float = 0.02
    grid_long_side: int = 64
    sandbox_in_process: bool = False


def bench_intake(jobs: int) -> SheetIntake:
    """Return a checked sheet with one distinct prompt per job, no upscales and no repeats."""
    rows = []
    for index in range(jobs):
        prompt = f"{SUBJECTS[index % len(SUBJECTS)]}, study {index + 1} --ar 3:2"
        rows.append(
            SheetRow(
                number=index + 2,
                values={"prompt": prompt},
                status="accepted",
                prompts=(prompt,),
            )
        )
    return SheetIntake(filename="bench.xlsx", sheet_name="Prompts", headers=["prompt"], rows=rows)


def engine_settings(config: BenchConfig, data_dir: Path, sandbox: RunningSandbox) -> Settings:
    """Return settings aimed at the sandbox, with the benchmark's pacing."""
    # Read no .env file: the benchmark's figures must not depend on the working folder.
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    settings.discord.api_base = sandbox.info["api_base"]
    settings.discord.gateway_url = sandbox.info["gateway_url"]
    settings.pacing.min_gap_seconds = config.min_gap_seconds
    settings.pacing.jitter_seconds = 0.0
    # The daily cap protects a real account; the sandbox account may send the whole batch.
    settings.pacing.daily_cap = max(settings.pacing.daily_cap, config.jobs)
    return settings


async def run_batch_benchmark(config: BenchConfig, work_dir: Path) -> BenchResult:
    """Run one batch of ``config.jobs`` prompts against a fresh sandbox and measure it."""
    sandbox = await start_sandbox(
        job_seconds=config.job_seconds,
        plan=config.plan,
        grid_long_side=config.grid_long_side,
        in_process=config.sandbox_in_process,
    )
    try:
        result = await _run_on_sandbox(config, work_dir, sandbox)
    finally:
        usage = await sandbox.stop()
    return _with_sandbox_usage(result, usage)


async def _run_on_sandbox(
    config: BenchConfig, work_dir: Path, sandbox: RunningSandbox
) -> BenchResult:
    settings = engine_settings(config, work_dir / "data", sandbox)
    slots = settings.pacing.plan_slots[config.plan].fast
    if slots != sandbox.info["fast_slots"]:
        raise RuntimeError(
            f"MidJAu counts {slots} slots for plan {config.plan!r} "
            f"but the sandbox runs {sandbox.info['fast_slots']}"
        )
    db = Database(settings.database_url)
    await db.upgrade()
    try:
        async with aiohttp.ClientSession() as http:
            engine = Engine(
                settings,
                db,
                LocalBlobStore(settings.blobs_path),
                http,
                TokenCipher(Fernet.generate_key()),
            )
            await engine.start()
            try:
                return await _run_batch(config, engine, sandbox, slots)
            finally:
                await engine.stop()
    finally:
        await db.dispose()


async def _run_batch(
    config: BenchConfig, engine: Engine, sandbox: RunningSandbox, slots: int
) -> BenchResult:
    info = sandbox.info
    user_id = await engine.ensure_user(info["user_id"], "bench")
    await engine.add_connection(
        user_id,
        token=info["user_token"],
        guild_id=info["guild_id"],
        channel_id=info["channel_id"],
        plan=config.plan,
    )
    recorder = SlotRecorder(job_count=config.jobs)
    engine.ledger.subscribe(recorder)
    intake = bench_intake(config.jobs)
    baseline_rss = resident_memory_mib()
    log.info("benchmark batch of %d jobs on %d slots starts", config.jobs, slots)

    started = Moment.now()
    batch_id = await engine.create_batch(user_id, intake, BatchOptions(), origin=BatchOrigin.DEMO)
    queued = Moment.now()
    batch = await engine.wait_finished(batch_id)
    packaged = Moment.now()

    all_final = recorder.all_final or packaged
    jobs = await _load_jobs(engine, batch_id)
    statuses = Counter(job.status.value for job in jobs)
    slot_use = measure_slot_use(
        recorder.all_holds(), queued_at=queued.wall, ended_at=all_final.wall, slots=slots
    )
    breakdown = break_down_holds(jobs, recorder.holds)
    return BenchResult(
        jobs=config.jobs,
        slots=slots,
        job_seconds=float(info["job_seconds"]),
        min_gap_seconds=config.min_gap_seconds,
        grid_long_side=config.grid_long_side,
        sandbox_in_process=config.sandbox_in_process,
        statuses=dict(statuses),
        create_seconds=queued.monotonic - started.monotonic,
        wall_seconds=all_final.monotonic - queued.monotonic,
        utilisation=slot_use.utilisation,
        mean_hold_seconds=slot_use.mean_hold_seconds,
        first_send_seconds=slot_use.first_send_seconds,
        mean_refill_seconds=slot_use.mean_refill_seconds,
        max_refill_seconds=slot_use.max_refill_seconds,
        sent_to_started_seconds=breakdown.sent_to_started,
        started_to_grid_seconds=breakdown.started_to_grid,
        grid_to_recorded_seconds=breakdown.grid_to_recorded,
        cpu_seconds=all_final.cpu_seconds - queued.cpu_seconds,
        package_seconds=packaged.monotonic - all_final.monotonic,
        package_cpu_seconds=packaged.cpu_seconds - all_final.cpu_seconds,
        zip_bytes=sum(path.stat().st_size for path in batch.zip_paths),
        report_bytes=batch.report_path.stat().st_size if batch.report_path else 0,
        baseline_rss_mib=baseline_rss,
        run_peak_rss_mib=all_final.peak_rss_mib,
        peak_rss_mib=packaged.peak_rss_mib,
        command=sys.argv,
    )


async def _load_jobs(engine: Engine, batch_id: int) -> list[Job]:
    async with engine.db.sessions() as session:
        return list(await session.scalars(select(Job).where(Job.batch_id == batch_id)))


def _with_sandbox_usage(result: BenchResult, usage: SandboxUsage | None) -> BenchResult:
    if usage is None:
        return result
    values = asdict(result) | {
        "sandbox_cpu_seconds": usage.cpu_seconds,
        "sandbox_peak_rss_mib": usage.peak_rss_mib,
    }
    return BenchResult(**values)


# Command line ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.batch_throughput",
        description="Run a batch through MidJAu against the offline sandbox and measure it.",
    )
    defaults = BenchConfig()

    parser.add_argument("--jobs", type=int, default=defaults.jobs, help="prompts in the batch")
    parser.add_argument(
        "--job-seconds",
        type=float,
        default=defaults.job_seconds,
        help="wall seconds the simulated Midjourney takes per job",
    )
    parser.add_argument(
        "--plan", default=defaults.plan, help="Midjourney plan, which sets the slots (pro: 12)"
    )
    parser.add_argument(
        "--min-gap",
        type=float,
        default=defaults.min_gap_seconds,
        help="seconds between two interactions of the account (jitter is always 0)",
    )
    parser.add_argument(
        "--grid-long-side",
        type=int,
        default=defaults.grid_long_side,
        help="long side of the simulated grids, in pixels",
    )

    parser.add_argument(
        "--sandbox-in-process",
        action="store_true",
        help="run the sandbox in this process (CPU and memory then include it)",
    )
    parser.add_argument(
        "--series",
        type=int,
        nargs="+",
        metavar="JOBS",
        help="run each batch size in a fresh process and compare them",
    )

    parser.add_argument("--json", type=Path, help="also write the result to this JSON file")
    parser.add_argument("--profile", type=Path, help="write cProfile statistics to this file")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")

    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    return args


def config_from(args: argparse.Namespace, jobs: int | None = None) -> BenchConfig:
    """Return the run configuration the options describe."""
    return BenchConfig(
        jobs=jobs or args.jobs,
        job_seconds=args.job_seconds,
        plan=args.plan,
        min_gap_seconds=args.min_gap,
        grid_long_side=args.grid_long_side,
        sandbox_in_process=args.sandbox_in_process,
    )


def run_once(args: argparse.Namespace) -> BenchResult:
    """Run one batch in this process, print its table and write its JSON if asked."""
    config = config_from(args)
    with tempfile.TemporaryDirectory(prefix="midjau-bench-") as work_dir:
        if args.profile is None:
            result = asyncio.run(run_batch_benchmark(config, Path(work_dir)))
        else:
            profiler = cProfile.Profile()
            result = profiler.runcall(asyncio.run, run_batch_benchmark(config, Path(work_dir)))
            profiler.dump_stats(args.profile)
    print(format_result(result))
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return result


def run_series(args: argparse.Namespace) -> list[BenchResult]:
    """Run each batch size of ``--series`` in a fresh process, then print the comparison."""
    results = []
    passed_on = [
        f"--job-seconds={args.job_seconds}",
        f"--plan={args.plan}",
        f"--min-gap={args.min_gap}",
        f"--grid-long-side={args.grid_long_side}",
        f"--log-level={args.log_level}",
    ]
    if args.sandbox_in_process:
        passed_on.append("--sandbox-in-process")
    with tempfile.TemporaryDirectory(prefix="midjau-bench-series-") as folder:
        for jobs in args.series:
            output = Path(folder) / f"{jobs}.json"
            command = [sys.executable, "-m", "bench.batch_throughput", f"--jobs={jobs}"]
            print(f"running {jobs} jobs in a fresh process", flush=True)
            subprocess.run(
                [*command, *passed_on, f"--json={output}"], cwd=REPOSITORY_ROOT, check=True
            )
            results.append(BenchResult(**json.loads(output.read_text())))
    print()
    print(format_series(results))
    return results


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark from the command line."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    results = run_series(args) if args.series else [run_once(args)]
    if not all(result.all_done for result in results):
        sys.exit("not every job ended DONE; see the statuses above")


if __name__ == "__main__":
    main()
