from sqlalchemy import select

from pipeline.batches import INSERT_CHUNK_ROWS, insert_batch
from pipeline.intake.model import SheetIntake, SheetRow
from pipeline.ledger import JobLedger
from pipeline.progress import BatchOptions
from storage.models import BatchOrigin, Job, User
from storage.models import SheetRow as StoredRow


def sheet_spanning_chunks() -> SheetIntake:
    """Return a sheet with more rows than one flush holds, a skipped row and repeats."""
    rows = []
    for index in range(INSERT_CHUNK_ROWS + 7):
        prompt = f"a koi pond, study {index}"
        skipped = index == INSERT_CHUNK_ROWS - 1
        rows.append(
            SheetRow(
                number=index + 2,
                values={"prompt": prompt},
                status="skipped" if skipped else "accepted",
                reason="empty prompt" if skipped else "",
                prompts=() if skipped else (prompt,),
                repeat=2 if index % 3 == 0 else 1,
            )
        )
    return SheetIntake(filename="koi.xlsx", sheet_name="Prompts", headers=["prompt"], rows=rows)


async def test_big_sheet_stores_every_row_and_job_in_sheet_order(db):
    ledger = JobLedger(db)
    intake = sheet_spanning_chunks()
    async with ledger.transaction() as session:
        user = User(display_name="tester")
        session.add(user)
        await session.flush()
        batch = await insert_batch(
            session,
            user_id=user.id,
            intake=intake,
            options=BatchOptions(),
            origin=BatchOrigin.DEMO,
            connection_id=None,
            discord_channel_id=None,
            confirmed=True,
        )
        batch_id = batch.id

    async with ledger.db.sessions() as session:
        rows = list(
            await session.scalars(
                select(StoredRow).where(StoredRow.batch_id == batch_id).order_by(StoredRow.id)
            )
        )
        jobs = list(
            await session.scalars(
                select(Job).where(Job.batch_id == batch_id).order_by(Job.sequence)
            )
        )

    assert [row.row_number for row in rows] == [row.number for row in intake.rows]
    assert len(jobs) == intake.job_count
    assert [job.sequence for job in jobs] == list(range(intake.job_count))
    numbers = {row.id: row.row_number for row in rows}
    expected = [row.number for row in intake.accepted_rows for _ in range(row.repeat)]
    assert [numbers[job.row_id] for job in jobs] == expected
    assert all(job.prompt.endswith(f"study {numbers[job.row_id] - 2}") for job in jobs)
