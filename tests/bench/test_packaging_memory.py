"""A small run of the packaging memory benchmark: it packages the batch and reports both figures."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from bench.packaging_memory import measure

JOBS = 30


async def test_small_packaging_benchmark_writes_outputs(tmp_path: Path) -> None:
    line = await measure(JOBS, tmp_path)

    found = re.fullmatch(
        rf"\s*{JOBS} jobs: Python allocations peak at ([\d.]+) MiB, "
        r"resident high-water mark \+(-?[\d.]+) MiB",
        line,
    )
    assert found is not None, line
    assert float(found[1]) > 0
    [archive] = (tmp_path / "out").glob("*.zip")
    with zipfile.ZipFile(archive) as opened:
        images = [name for name in opened.namelist() if name.endswith(".png")]
    assert len(images) == JOBS
