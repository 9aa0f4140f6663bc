"""The progress hub that feeds the batch page's event streams."""

from __future__ import annotations

from pipeline.progress import BatchProgress, BatchResult, BatchSummary
from web.dashboard._events import ProgressHub, progress_json


def _progress(batch_id: int, done: int) -> BatchProgress:
    return BatchProgress(
        batch_id=batch_id, status="running", total=4, done=done, failed=0, running=1, queued=0
    )


def _result(batch_id: int) -> BatchResult:
    summary = BatchSummary(4, 4, 0, 0, 0, 4, 4, 1.0)
    return BatchResult(batch_id=batch_id, status="done", summary=summary)


async def test_hub_keeps_only_latest_progress() -> None:
    hub = ProgressHub()
    with hub.subscribe(7) as subscription:
        await hub.on_batch_progress(_progress(7, 1))
        await hub.on_batch_progress(_progress(7, 2))

        assert subscription.changed.is_set()
        latest = subscription.take()
        assert latest is not None
        assert latest.done == 2
        assert subscription.take() is None
        assert not subscription.changed.is_set()


async def test_hub_sends_only_the_subscribed_batch() -> None:
    hub = ProgressHub()
    with hub.subscribe(7) as subscription:
        await hub.on_batch_progress(_progress(8, 1))
        await hub.on_batch_finished(_result(8))

        assert not subscription.changed.is_set()
        assert not subscription.finished


async def test_hub_marks_finished_and_closes() -> None:
    hub = ProgressHub()
    with hub.subscribe(7) as first, hub.subscribe(7) as second:
        await hub.on_batch_finished(_result(7))
        hub.close()

        assert first.finished
        assert second.finished
        assert first.closed
        assert second.closed


async def test_hub_forgets_ended_subscriptions() -> None:
    hub = ProgressHub()
    with hub.subscribe(7) as subscription:
        pass
    await hub.on_batch_progress(_progress(7, 1))

    assert subscription.take() is None


def test_progress_json_leaves_out_discord_ids() -> None:
    data = progress_json(
        BatchProgress(
            batch_id=7,
            status="running",
            total=4,
            done=1,
            failed=1,
            running=1,
            queued=1,
            discord_channel_id="123",
            progress_message_id="456",
        )
    )

    assert "discord_channel_id" not in data
    assert "progress_message_id" not in data
    assert data["finished"] == 2
    assert data["total"] == 4
