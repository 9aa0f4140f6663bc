"""The account limit learned from "Queue full", and the dispatcher keeping within it."""

from __future__ import annotations

import pytest

from pipeline.job_limits import learn_job_limit
from pipeline.ledger import JobLedger
from storage.models import JobStatus, MidjourneyConnection
from tests.pipeline.engine_support import RecordingRelay
from tests.pipeline.test_dispatcher import add_batch, add_connection, dispatcher, job_by_prompt


@pytest.fixture
async def ledger(db) -> JobLedger:
    return JobLedger(db)


async def stored_limit(ledger: JobLedger, connection_id: int) -> int | None:
    async with ledger.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, connection_id)
        assert connection is not None
        return connection.learned_job_limit


async def set_statuses(ledger: JobLedger, statuses: dict[str, JobStatus]) -> None:
    for prompt, status in statuses.items():
        job = await job_by_prompt(ledger, prompt)
        await ledger.update(job.id, status=status)


async def test_limit_counts_only_accepted_jobs(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c", "d"])
    await set_statuses(
        ledger,
        {"a": JobStatus.RUNNING, "b": JobStatus.WAITING, "c": JobStatus.SUBMITTED},
    )

    assert await learn_job_limit(ledger, connection_id) == 2
    assert await stored_limit(ledger, connection_id) == 2


async def test_limit_only_goes_down(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c"])
    await set_statuses(ledger, {"a": JobStatus.RUNNING})
    assert await learn_job_limit(ledger, connection_id) == 1

    await set_statuses(ledger, {"b": JobStatus.WAITING, "c": JobStatus.WAITING})

    assert await learn_job_limit(ledger, connection_id) == 1
    assert await stored_limit(ledger, connection_id) == 1


async def test_nothing_learned_without_accepted_jobs(ledger):
    # A queue full of jobs from elsewhere is no sign of how many of ours fit.
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a"])
    await set_statuses(ledger, {"a": JobStatus.SUBMITTED})

    assert await learn_job_limit(ledger, connection_id) is None
    assert await stored_limit(ledger, connection_id) is None


async def test_dispatcher_keeps_within_learned_limit(ledger):
    connection_id = await add_connection(ledger)
    await add_batch(ledger, connection_id, ["a", "b", "c", "d"])
    async with ledger.transaction() as session:
        connection = await session.get(MidjourneyConnection, connection_id)
        assert connection is not None
        connection.learned_job_limit = 2
    relay = RecordingRelay()
    sender = dispatcher(ledger, connection_id, relay, fast=12)

    sent = [await sender.send_next() for _ in range(3)]

    assert sent == [True, True, False]
    assert [prompt for prompt, _, _ in relay.imagined] == ["a", "b"]
