import asyncio

from bot.progress import EditThrottle, render_bar, render_progress
from pipeline.progress import BatchProgress


def make_progress(**changes: object) -> BatchProgress:
    values: dict[str, object] = {
        "batch_id": 7,
        "status": "running",
        "total": 30,
        "done": 10,
        "failed": 2,
        "running": 3,
        "queued": 15,
        "eta_seconds": 250.0,
    }
    values.update(changes)
    return BatchProgress(**values)  # type: ignore[arg-type]


def test_bar_fills_in_proportion() -> None:
    assert render_bar(0.0, 10) == "░" * 10
    assert render_bar(0.5, 10) == "█" * 5 + "░" * 5
    assert render_bar(1.0, 10) == "█" * 10
    assert render_bar(1.7, 10) == "█" * 10


def test_progress_shows_counts_bar_and_eta() -> None:
    text = render_progress(make_progress())

    assert "Batch 7" in text
    assert "running" in text
    assert "40 %" in text  # 12 of 30 jobs finished
    assert "12/30 jobs" in text
    assert "done 10" in text
    assert "failed 2" in text
    assert "running 3" in text
    assert "queued 15" in text
    assert "ETA 4 min 10 s" in text
    assert "█" * 8 + "░" * 12 in text


def test_finished_progress_has_no_eta() -> None:
    text = render_progress(make_progress(status="done", done=28, failed=2, running=0, queued=0))

    assert "100 %" in text
    assert "ETA" not in text
    assert "done" in text.splitlines()[0]


class FakeClock:
    """A clock that only moves when the throttle sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_throttle_sends_newest_of_a_burst_once() -> None:
    clock = FakeClock()
    sent: list[tuple[float, str, int]] = []

    async def send(key: str, value: int) -> None:
        sent.append((clock.now, key, value))

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    for value in range(10):
        throttle.submit("batch", value)
    await throttle.flush("batch")

    assert sent == [(0.0, "batch", 9)]


async def test_throttle_delivers_last_update_after_interval() -> None:
    clock = FakeClock()
    sent: list[tuple[float, int]] = []

    async def send(key: str, value: int) -> None:
        sent.append((clock.now, value))

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    throttle.submit("batch", 0)
    await asyncio.sleep(0)
    for value in range(1, 10):
        throttle.submit("batch", value)
    await throttle.flush("batch")

    assert sent == [(0.0, 0), (5.0, 9)]


async def test_throttle_spaces_edits_by_interval() -> None:
    clock = FakeClock()
    sent: list[tuple[float, int]] = []

    async def send(key: str, value: int) -> None:
        sent.append((clock.now, value))

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    throttle.submit("batch", 1)
    await asyncio.sleep(0)
    clock.now = 2.0
    throttle.submit("batch", 2)
    throttle.submit("batch", 3)
    await throttle.flush("batch")

    assert sent == [(0.0, 1), (5.0, 3)]


async def test_throttle_sends_at_once_after_a_quiet_interval() -> None:
    clock = FakeClock()
    sent: list[tuple[float, int]] = []

    async def send(key: str, value: int) -> None:
        sent.append((clock.now, value))

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    throttle.submit("batch", 1)
    await throttle.flush("batch")
    clock.now = 60.0
    throttle.submit("batch", 2)
    await throttle.flush("batch")

    assert sent == [(0.0, 1), (60.0, 2)]


async def test_throttle_keeps_batches_apart() -> None:
    clock = FakeClock()
    sent: list[tuple[float, str, int]] = []

    async def send(key: str, value: int) -> None:
        sent.append((clock.now, key, value))

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    throttle.submit("a", 1)
    throttle.submit("b", 1)
    await throttle.flush("a")
    await throttle.flush("b")

    assert (0.0, "a", 1) in sent
    assert (0.0, "b", 1) in sent
    assert len(sent) == 2


async def test_throttle_survives_a_failed_send() -> None:
    clock = FakeClock()
    sent: list[int] = []

    async def send(key: str, value: int) -> None:
        if value == 1:
            raise RuntimeError("message deleted")
        sent.append(value)

    throttle: EditThrottle[str, int] = EditThrottle(5.0, send, clock=clock, sleep=clock.sleep)
    throttle.submit("batch", 1)
    await asyncio.sleep(0)
    throttle.submit("batch", 2)
    await throttle.flush("batch")

    assert sent == [2]
