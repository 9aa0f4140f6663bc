"""Measure the memory the packager needs for a finished batch of N jobs.

    python -m bench.packaging_memory 1000 5000 20000   # each size in a fresh process

Each size stores a finished batch in a new SQLite database (one row, one job and one
64 px grid per row), then packages it: the Excel report and the ZIP. It prints the peak
of Python's own allocations during packaging (``tracemalloc``) and how much the
resident-set high-water mark (``ru_maxrss``) rose, which also counts the C libraries and
the worker threads' memory. Run it with ``PYTHONPATH`` pointing at another checkout to
measure that tree's packager with the same batch.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import subprocess
import sys
import tempfile
import tracemalloc
import uuid
from pathlib import Path

from PIL import Image as PillowImage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pipeline.packager import package_batch
from storage.blobs import LocalBlobStore
from storage.db import Database
from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    Image,
    ImageKind,
    Job,
    JobStatus,
    RowStatus,
    SheetRow,
    User,
    utcnow,
)

# Rows stored per flush while building the batch.
STORE_CHUNK = 500
PART_LIMIT_BYTES = 1024**3


def grid_png() -> bytes:
    """Return a small grid image, as the throughput benchmark's sandbox makes them."""
    buffer = io.BytesIO()
    PillowImage.new("RGB", (64, 43), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def store_finished_batch(db: Database, blobs: LocalBlobStore, jobs: int) -> int:
    """Store a batch of ``jobs`` done jobs with one grid each, its blobs written; return its id."""
    data = grid_png()
    async with db.sessions() as session, session.begin():
        user = User(display_name="bench")
        session.add(user)
        await session.flush()
        batch = Batch(
            user_id=user.id,
            origin=BatchOrigin.DEMO,
            status=BatchStatus.PACKAGING,
            source_filename="prompts.xlsx",
            headers=["prompt"],
            started_at=utcnow(),
        )
        session.add(batch)
        await session.flush()
        batch_id = batch.id
        for start in range(0, jobs, STORE_CHUNK):
            for number in range(start, min(start + STORE_CHUNK, jobs)):
                _add_row(session, batch_id, number)
            await session.flush()
    async with db.sessions() as session:
        keys = list(await session.scalars(select(Image.blob_key)))
    for key in keys:
        await blobs.put(key, data)
    return batch_id


def _add_row(session: AsyncSession, batch_id: int, number: int) -> None:
    prompt = f"a red fox number {number} in the snow --ar 3:2"
    row = SheetRow(
        batch_id=batch_id,
        row_number=number + 2,
        values={"prompt": prompt},
        status=RowStatus.ACCEPTED,
    )
    job = Job(
        id=str(uuid.uuid4()),
        batch_id=batch_id,
        row=row,
        sequence=number,
        prompt=prompt,
        status=JobStatus.DONE,
        sent_at=utcnow(),
        finished_at=utcnow(),
        midjourney_job_id=str(uuid.uuid4()),
        grid_message_id="1180000000000009999",
    )
    image = Image(
        job=job,
        kind=ImageKind.GRID,
        index=0,
        blob_key=f"batches/{batch_id}/{job.id}/grid.png",
    )
    session.add_all([row, job, image])


async def measure(jobs: int, root: Path) -> str:
    """Store and package a batch of ``jobs`` jobs under ``root``; describe the memory used."""
    db = Database(f"sqlite+aiosqlite:///{root / 'midjau.db'}")
    await db.upgrade()
    try:
        blobs = LocalBlobStore(root / "blobs")
        batch_id = await store_finished_batch(db, blobs, jobs)
        high_water_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        await package_batch(db, blobs, batch_id, root / "out", part_limit_bytes=PART_LIMIT_BYTES)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        high_water_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        await db.dispose()
    rise = (high_water_after - high_water_before) / 1024  # ru_maxrss is in KiB on Linux
    return (
        f"{jobs:>7,} jobs: Python allocations peak at {peak / 2**20:.1f} MiB, "
        f"resident high-water mark +{rise:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jobs", type=int, nargs="+", help="batch sizes, each run apart")
    parser.add_argument("--single", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.single:
        with tempfile.TemporaryDirectory(prefix="midjau-bench-") as folder:
            print(asyncio.run(measure(arguments.jobs[0], Path(folder))))
        return
    # A fresh process per size, so one size's memory high-water mark does not hide another's.
    for jobs in arguments.jobs:
        command = [sys.executable, "-m", "bench.packaging_memory", "--single", str(jobs)]
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
