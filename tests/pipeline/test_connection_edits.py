"""An owner's changes to a connection: its pace, and removing it with its token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.batch_requests import NoConnectionError
from pipeline.progress import BatchOptions
from storage.models import (
    Batch,
    BatchOrigin,
    BatchStatus,
    FailureCategory,
    JobStatus,
    MidjourneyConnection,
)
from tests.pipeline import discord_payloads as mj
from tests.pipeline.engine_rig import Rig, jobs_of, wait_sent
from tests.pipeline.engine_support import RecordingRelay, make_intake, wait_for


async def stored_ciphertext(rig: Rig) -> bytes:
    async with rig.engine.db.sessions() as session:
        connection = await session.get(MidjourneyConnection, rig.connection_id)
    assert connection is not None
    return connection.token_ciphertext


def database_bytes(db_path: Path) -> bytes:
    """Return the bytes of the SQLite file and its write-ahead log."""
    data = db_path.read_bytes()
    wal = db_path.with_name(db_path.name + "-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_remove_deletes_row_and_token_bytes(rig: Rig, tmp_path: Path) -> None:
    ciphertext = await stored_ciphertext(rig)
    assert ciphertext in database_bytes(tmp_path / "midjau.db")

    removed = await rig.engine.remove_connection(rig.connection_id, rig.user_id)

    assert removed is True
    async with rig.engine.db.sessions() as session:
        assert await session.get(MidjourneyConnection, rig.connection_id) is None
    on_disk = database_bytes(tmp_path / "midjau.db")
    assert ciphertext not in on_disk
    assert b"user-token" not in on_disk
    assert rig.relay.closed
    assert rig.engine.connections.get(rig.connection_id) is None


async def test_two_removals_at_once_remove_once(rig: Rig) -> None:
    first, second = await asyncio.gather(
        rig.engine.remove_connection(rig.connection_id, rig.user_id),
        rig.engine.remove_connection(rig.connection_id, rig.user_id),
    )

    assert sorted([first, second]) == [False, True]
    async with rig.engine.db.sessions() as session:
        assert await session.get(MidjourneyConnection, rig.connection_id) is None


async def test_remove_fails_unfinished_jobs_and_keeps_batch(rig: Rig) -> None:
    intake = make_intake([f"a lighthouse number {n}" for n in range(5)])
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.WEB
    )
    await wait_sent(rig, 3)  # a basic plan runs three fast jobs at once

    await rig.engine.remove_connection(rig.connection_id, rig.user_id)
    result = await rig.engine.wait_finished(batch_id)

    jobs = await jobs_of(rig.engine, batch_id)
    assert len(jobs) == 5
    assert all(job.status == JobStatus.FAILED for job in jobs)
    assert all(job.failure_category == FailureCategory.ACCOUNT for job in jobs)
    assert sum("before this job was sent" in job.failure_message for job in jobs) == 2
    assert all(job.connection_id is None for job in jobs)
    async with rig.engine.db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    assert batch.connection_id is None
    assert result.batch_id == batch_id


async def disconnect_with_batch_waiting(rig: Rig) -> int:
    """Upload a sheet without running it, then remove the connection; return the batch id."""
    batch_id = await rig.engine.create_batch(
        rig.user_id,
        make_intake(["a lighthouse"]),
        BatchOptions(),
        origin=BatchOrigin.WEB,
        confirmed=False,
    )
    await rig.engine.remove_connection(rig.connection_id, rig.user_id)
    return batch_id


async def test_remove_leaves_batch_awaiting_run(rig: Rig) -> None:
    batch_id = await disconnect_with_batch_waiting(rig)

    with pytest.raises(NoConnectionError):
        await rig.engine.confirm_batch(batch_id)

    [job] = await jobs_of(rig.engine, batch_id)
    assert job.status == JobStatus.QUEUED
    async with rig.engine.db.sessions() as session:
        batch = await session.get(Batch, batch_id)
    assert batch is not None
    assert batch.status == BatchStatus.AWAITING_CONFIRMATION


async def test_run_moves_waiting_batch_to_new_connection(rig: Rig) -> None:
    batch_id = await disconnect_with_batch_waiting(rig)
    new_connection_id = await rig.engine.add_connection(
        rig.user_id,
        token="user-token",
        guild_id=mj.GUILD_ID,
        channel_id=mj.CHANNEL_ID,
        plan="basic",
    )

    await rig.engine.confirm_batch(batch_id)

    [job] = await jobs_of(rig.engine, batch_id)
    assert job.connection_id == new_connection_id
    runtime = rig.engine.connections.get(new_connection_id)
    assert runtime is not None
    await wait_for(lambda: has_imagined(runtime.relay, "a lighthouse"))


async def has_imagined(relay: object, prompt: str) -> bool:
    assert isinstance(relay, RecordingRelay)
    return any(sent.startswith(prompt) for sent, _, _ in relay.imagined)


async def test_remove_ends_backed_off_dispatcher(rig: Rig) -> None:
    # A cancel inside a SQLite read would block the checkpoint that purges the token.
    runtime = rig.engine.connections.get(rig.connection_id)
    assert runtime is not None
    assert runtime.task is not None
    runtime.dispatcher.back_off(3600, "queue full")

    await rig.engine.remove_connection(rig.connection_id, rig.user_id)

    assert runtime.task.done()
    assert not runtime.task.cancelled()


async def test_remove_ends_dispatcher_waiting_for_gap(rig: Rig) -> None:
    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=None, min_gap_seconds=600
    )
    runtime = rig.engine.connections.get(rig.connection_id)
    assert runtime is not None
    assert runtime.task is not None
    intake = make_intake(["a lighthouse", "a harbour"])
    await rig.engine.create_batch(rig.user_id, intake, BatchOptions(), origin=BatchOrigin.WEB)
    await wait_sent(rig, 1)  # the second prompt now waits out the 600 s gap

    await rig.engine.remove_connection(rig.connection_id, rig.user_id)

    assert len(rig.relay.imagined) == 1
    assert not runtime.task.cancelled()


async def test_remove_ends_probe_of_paused_connection(rig: Rig) -> None:
    await rig.engine.health.pause(rig.connection_id, "Your subscription has ended")
    probe = rig.engine.health.probes.task_of(rig.connection_id)
    assert probe is not None

    await rig.engine.remove_connection(rig.connection_id, rig.user_id)
    await asyncio.wait_for(probe, timeout=5)

    assert not probe.cancelled()
    assert rig.engine.health.probes.task_of(rig.connection_id) is None


async def test_remove_rejects_another_users_connection(rig: Rig) -> None:
    other_user = await rig.engine.ensure_user("999000999000999000", "someone else")

    removed = await rig.engine.remove_connection(rig.connection_id, other_user)

    assert removed is False
    async with rig.engine.db.sessions() as session:
        assert await session.get(MidjourneyConnection, rig.connection_id) is not None
    assert rig.engine.connections.get(rig.connection_id) is not None


async def test_connect_again_after_remove_starts(rig: Rig) -> None:
    await rig.engine.remove_connection(rig.connection_id, rig.user_id)

    connection_id = await rig.engine.add_connection(
        rig.user_id, token="new-token", guild_id="1", channel_id="2", plan="standard"
    )

    assert rig.engine.connections.get(connection_id) is not None


async def test_set_pace_applies_to_running_dispatcher(rig: Rig) -> None:
    changed = await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=40, min_gap_seconds=7.5
    )

    assert changed is True
    runtime = rig.engine.connections.get(rig.connection_id)
    assert runtime is not None
    assert runtime.dispatcher.daily_cap == 40
    assert runtime.pacer.min_gap_seconds == 7.5
    async with rig.engine.db.sessions() as session:
        connection = await session.scalar(
            select(MidjourneyConnection).where(MidjourneyConnection.id == rig.connection_id)
        )
    assert connection is not None
    assert (connection.daily_cap, connection.min_gap_seconds) == (40, 7.5)


async def test_set_pace_none_restores_defaults(rig: Rig) -> None:
    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=40, min_gap_seconds=7.5
    )

    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=None, min_gap_seconds=None
    )

    runtime = rig.engine.connections.get(rig.connection_id)
    assert runtime is not None
    pacing = rig.engine.settings.pacing
    assert runtime.dispatcher.daily_cap == pacing.daily_cap
    assert runtime.pacer.min_gap_seconds == pacing.min_gap_seconds


@pytest.mark.parametrize(("daily_cap", "min_gap"), [(0, None), (None, 0.2), (None, 7200.0)])
async def test_set_pace_rejects_out_of_range(
    rig: Rig, daily_cap: int | None, min_gap: float | None
) -> None:
    with pytest.raises(ValueError, match="outside"):
        await rig.engine.set_connection_pace(
            rig.connection_id, rig.user_id, daily_cap=daily_cap, min_gap_seconds=min_gap
        )


async def test_set_pace_rejects_another_user(rig: Rig) -> None:
    other_user = await rig.engine.ensure_user("999000999000999000", "someone else")

    changed = await rig.engine.set_connection_pace(
        rig.connection_id, other_user, daily_cap=5, min_gap_seconds=None
    )

    assert changed is False


async def test_pace_notice_uses_connection_daily_cap(rig: Rig) -> None:
    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=2, min_gap_seconds=None
    )
    intake = make_intake([f"a lighthouse number {n}" for n in range(5)])
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.WEB, confirmed=False
    )

    notice = await rig.engine.pace_notice(batch_id)

    assert notice is not None
    assert "daily cap of 2 prompts" in notice
    assert "the 5 jobs take more than 2 days" in notice


async def test_pace_notice_counts_other_queued_batches(rig: Rig) -> None:
    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=3, min_gap_seconds=None
    )
    await rig.engine.health.pause(rig.connection_id, "Your subscription has ended")
    earlier = make_intake([f"a lighthouse number {n}" for n in range(4)])
    await rig.engine.create_batch(
        rig.user_id,
        earlier,
        BatchOptions(),
        origin=BatchOrigin.WEB,
        connection_id=rig.connection_id,  # paused, so not chosen by default
    )
    later = make_intake(["a harbour", "a pier"])
    batch_id = await rig.engine.create_batch(
        rig.user_id,
        later,
        BatchOptions(),
        origin=BatchOrigin.WEB,
        connection_id=rig.connection_id,
        confirmed=False,
    )

    notice = await rig.engine.pace_notice(batch_id)

    assert notice is not None
    assert "this batch's 2 jobs and the 4 queued before them take more than 1 day" in notice
    assert rig.relay.imagined == []


async def test_health_says_sending_waits_for_daily_cap(rig: Rig) -> None:
    await rig.engine.set_connection_pace(
        rig.connection_id, rig.user_id, daily_cap=1, min_gap_seconds=None
    )
    intake = make_intake(["a lighthouse", "a harbour"])
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.WEB
    )
    await wait_sent(rig, 1)

    async def holding() -> bool:
        return bool(rig.engine.health.waiting(rig.connection_id))

    await wait_for(holding)
    (health,) = await rig.engine.connection_health(rig.user_id)
    progress = await rig.engine.progress(batch_id)

    assert progress.eta_seconds is not None
    assert progress.eta_seconds > 23 * 3600  # the cap frees a slot a day after the first send
    assert health.working
    assert health.waiting.startswith("Sending waits until ")
    assert health.waiting.endswith(" UTC: daily cap of 1 prompt reached.")
    assert len(rig.relay.imagined) == 1


async def test_pace_notice_none_under_default_cap(rig: Rig) -> None:
    intake = make_intake(["a lighthouse", "a harbour"])
    batch_id = await rig.engine.create_batch(
        rig.user_id, intake, BatchOptions(), origin=BatchOrigin.WEB, confirmed=False
    )

    assert await rig.engine.pace_notice(batch_id) is None
