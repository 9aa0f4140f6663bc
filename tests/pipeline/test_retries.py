"""Retrying a finished batch: only its failed and cancelled jobs run again, in a new batch."""

from __future__ import annotations

from sqlalchemy import select, update

from pipeline.intake.model import SheetIntake, SheetRow
from pipeline.progress import BatchOptions
from storage.models import Batch, BatchOrigin, BatchStatus, Job, JobStatus, utcnow
from storage.models import SheetRow as StoredRow
from tests.pipeline.engine_rig import Rig, jobs_of, wait_sent


def mixed_intake() -> SheetIntake:
    """Return a sheet of a two-repeat row, two single rows and an invalid row."""

    def accepted(number: int, prompt: str, repeat: int = 1) -> SheetRow:
        values = {"prompt": prompt, "notes": f"row {number}"}
        return SheetRow(
            number=number, values=values, status="accepted", prompts=(prompt,), repeat=repeat
        )

    invalid = SheetRow(
        number=6,
        values={"prompt": "bad --foo 1", "notes": "row 6"},
        status="invalid",
        reason="unknown parameter --foo",
    )
    rows = [
        accepted(2, "a red fox", repeat=2),
        accepted(3, "a blue whale"),
        accepted(4, "a green frog"),
        invalid,
    ]
    return SheetIntake("prompts.xlsx", "Prompts", headers=["prompt", "notes"], rows=rows)


async def finish_batch(rig: Rig, batch_id: int, statuses: list[JobStatus]) -> None:
    """Give the batch's jobs these final statuses, in sequence order, and mark it finished."""
    jobs = await jobs_of(rig.engine, batch_id)
    assert len(jobs) == len(statuses)
    async with rig.engine.db.sessions() as session:
        for job, status in zip(jobs, statuses, strict=True):
            await session.execute(update(Job).where(Job.id == job.id).values(status=status))
        await session.execute(
            update(Batch)
            .where(Batch.id == batch_id)
            .values(status=BatchStatus.DONE, finished_at=utcnow())
        )
        await session.commit()


async def create_waiting_batch(rig: Rig) -> int:
    # Not confirmed, so the dispatcher sends nothing before the test sets the outcomes.
    return await rig.engine.create_batch(
        rig.user_id,
        mixed_intake(),
        BatchOptions(default_upscales=(2,)),
        origin=BatchOrigin.DEMO,
        confirmed=False,
    )


async def rows_of(rig: Rig, batch_id: int) -> list[StoredRow]:
    async with rig.engine.db.sessions() as session:
        result = await session.scalars(
            select(StoredRow).where(StoredRow.batch_id == batch_id).order_by(StoredRow.row_number)
        )
        return list(result)


async def test_retry_creates_only_failed_jobs(rig: Rig) -> None:
    source_id = await create_waiting_batch(rig)
    # Jobs in order: fox repeat 1, fox repeat 2, whale, frog.
    await finish_batch(
        rig, source_id, [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DONE]
    )

    retry_id = await rig.engine.retry_failed(source_id, rig.user_id)

    assert retry_id is not None
    assert retry_id != source_id
    jobs = await jobs_of(rig.engine, retry_id)
    assert [(job.prompt, job.repeat_index) for job in jobs] == [
        ("a red fox", 1),
        ("a blue whale", 0),
    ]
    assert all(job.connection_id == rig.connection_id for job in jobs)
    rows = await rows_of(rig, retry_id)
    assert [row.row_number for row in rows] == [2, 3]
    assert [row.values for row in rows] == [
        {"prompt": "a red fox", "notes": "row 2"},
        {"prompt": "a blue whale", "notes": "row 3"},
    ]
    assert [row.upscales for row in rows] == [[2], [2]]


async def test_retry_batch_starts_and_sends(rig: Rig) -> None:
    source_id = await create_waiting_batch(rig)
    await finish_batch(
        rig, source_id, [JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DONE]
    )

    retry_id = await rig.engine.retry_failed(source_id, rig.user_id)

    await wait_sent(rig, 2)
    assert sorted(prompt for prompt, _, _ in rig.relay.imagined) == ["a blue whale", "a red fox"]
    async with rig.engine.db.sessions() as session:
        retry = await session.get(Batch, retry_id)
        source = await session.get(Batch, source_id)
    assert retry is not None and source is not None
    assert retry.user_id == source.user_id
    assert retry.options == source.options
    assert retry.headers == source.headers
    assert retry.origin == source.origin


async def test_retry_rejects_other_users_batch(rig: Rig) -> None:
    source_id = await create_waiting_batch(rig)
    await finish_batch(rig, source_id, [JobStatus.FAILED] * 4)
    stranger = await rig.engine.ensure_user("999000999", "stranger")

    retry_id = await rig.engine.retry_failed(source_id, stranger)

    assert retry_id is None
    async with rig.engine.db.sessions() as session:
        batches = list(await session.scalars(select(Batch.id)))
    assert batches == [source_id]


async def test_retry_with_nothing_failed_returns_none(rig: Rig) -> None:
    source_id = await create_waiting_batch(rig)
    # The invalid row is not retried: it fails the same way until the user fixes it.
    await finish_batch(
        rig, source_id, [JobStatus.DONE, JobStatus.DONE, JobStatus.SKIPPED, JobStatus.DONE]
    )

    assert await rig.engine.retry_failed(source_id, rig.user_id) is None


async def test_retry_of_unfinished_batch_returns_none(rig: Rig) -> None:
    source_id = await create_waiting_batch(rig)

    assert await rig.engine.retry_failed(source_id, rig.user_id) is None


async def test_finished_batches_count_retryable_jobs(rig: Rig) -> None:
    first = await create_waiting_batch(rig)
    await finish_batch(rig, first, [JobStatus.DONE] * 4)
    second = await create_waiting_batch(rig)
    await finish_batch(
        rig, second, [JobStatus.FAILED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DONE]
    )
    await create_waiting_batch(rig)  # not finished, so not offered

    finished = await rig.engine.finished_batches(rig.user_id)

    assert [(item.batch_id, item.retryable_jobs) for item in finished] == [(second, 3), (first, 0)]
    assert await rig.engine.finished_batches(await rig.engine.ensure_user("1", "x")) == []
