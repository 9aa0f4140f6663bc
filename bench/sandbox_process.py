"""Run the sandbox in a process of its own, so a benchmark measures MidJAu's process alone.

``python -m bench.sandbox_process --job-seconds 1 --grid-long-side 64`` starts the sandbox
and prints one JSON line with its addresses, tokens and ids. When its standard input
closes, it stops and prints a second JSON line with its own CPU seconds and peak memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any

from midjau.settings import SandboxSettings
from sandbox.server import Sandbox

# The simulator's time scale is fixed at 1, so --job-seconds is the wall time of one job.
TIME_SCALE = 1.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the sandbox options."""
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_process")
    parser.add_argument(
        "--job-seconds", type=float, default=1.0, help="wall seconds of one fast job"
    )
    parser.add_argument("--plan", default="pro", help="Midjourney plan whose slots to simulate")
    parser.add_argument(
        "--grid-long-side", type=int, default=64, help="long side of a rendered grid, in pixels"
    )
    return parser.parse_args(argv)


def describe(sandbox: Sandbox) -> dict[str, Any]:
    """Return what MidJAu needs to connect to ``sandbox``."""
    return {
        "api_base": sandbox.api_base,
        "gateway_url": sandbox.gateway_url,
        "user_token": sandbox.user_token,
        "user_id": sandbox.user_id,
        "guild_id": sandbox.guild_id,
        "channel_id": sandbox.channel_id,
        "job_seconds": sandbox.midjourney.knobs.job_duration,
        "fast_slots": sandbox.midjourney.knobs.fast_slots,
    }


def own_usage() -> dict[str, float]:
    """Return this process's CPU seconds (all threads) and peak resident memory in MiB."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in KiB on Linux.
    return {"cpu_seconds": time.process_time(), "peak_rss_mib": usage.ru_maxrss / 1024}


async def serve(args: argparse.Namespace) -> None:
    """Serve the sandbox until standard input closes."""
    settings = SandboxSettings(time_scale=TIME_SCALE, job_seconds=args.job_seconds, plan=args.plan)
    async with Sandbox(settings) as sandbox:
        sandbox.midjourney.knobs.grid_long_side = args.grid_long_side
        print(json.dumps(describe(sandbox)), flush=True)
        # The parent closes our standard input to stop us; reading it blocks, so a thread waits.
        await asyncio.to_thread(sys.stdin.read)
    print(json.dumps(own_usage()), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox process."""
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
