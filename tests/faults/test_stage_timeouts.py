"""Jobs Midjourney never finishes replying to: each stage times out, after a history look-up.

The timeouts are a second or so here, against renders of 0.2 s, so a stuck stage shows
at once while a healthy row never comes near its limit.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.faults.rig import Outcome, Product, start_product

pytestmark = pytest.mark.e2e

TIMEOUTS = {"waiting_message": 1.0, "progress": 1.0, "final": 1.0, "deleted_progress_grace": 0.3}
CLEAN_ROWS = ("a red fox in snow", "a grey owl at dusk")


def assert_clean_rows_done(outcome: Outcome) -> None:
    """Check that rows 2 and 4, around the stuck row 3, finished on their first send."""
    for row in (2, 4):
        [line] = outcome.lines_of(row)
        assert (line.status, line.attempts) == ("done", 1), f"row {row}: {line.values}"


async def run_with_stuck_row(product: Product, prompt: str) -> Outcome:
    batch_id = await product.run_sheet([CLEAN_ROWS[0], prompt, CLEAN_ROWS[1]])
    return await product.finish(batch_id, within=30)


async def test_swallowed_prompt_is_retried_then_fails(tmp_path: Path) -> None:
    async with start_product(tmp_path, timeouts=TIMEOUTS) as product:
        product.knobs.swallowed_words = frozenset({"ghost"})
        outcome = await run_with_stuck_row(product, "a ghost ship")

    [line] = outcome.lines_of(3)
    assert line.status == "failed"
    assert line.category == "timed-out"
    assert line.message == "Midjourney sent no reply within 1 s (the prompt was sent 3 times)."
    assert line.attempts == 3
    assert_clean_rows_done(outcome)


async def test_prompt_swallowed_once_is_done_on_retry(tmp_path: Path) -> None:
    async with start_product(tmp_path, timeouts=TIMEOUTS) as product:
        product.knobs.swallowed_words = frozenset({"ghost"})
        batch_id = await product.run_sheet([CLEAN_ROWS[0], "a ghost ship", CLEAN_ROWS[1]])
        await wait_until_swallowed(product, "a ghost ship")
        product.knobs.swallowed_words = frozenset()
        outcome = await product.finish(batch_id, within=30)

    [line] = outcome.lines_of(3)
    assert (line.status, line.attempts) == ("done", 2)
    assert outcome.images() == [
        "002-a-red-fox-in-snow_grid.png",
        "003-a-ghost-ship_grid.png",
        "004-a-grey-owl-at-dusk_grid.png",
    ]
    assert_clean_rows_done(outcome)


async def wait_until_swallowed(product: Product, prompt: str) -> None:
    """Wait until the simulated Midjourney has read (and swallowed) ``prompt`` once."""
    simulator = product.sandbox.midjourney
    assert simulator is not None
    async with asyncio.timeout(10):
        while True:
            if any(seen.startswith(prompt) for seen in simulator.prompts_received):
                return
            await asyncio.sleep(0.01)


# (sandbox switch, word that trips it, prompt, report message)
STUCK_STAGES = [
    (
        "stalled_words",
        "frozen",
        "a frozen lake",
        "Midjourney sent no start of the render within 1 s.",
    ),
    ("unfinished_words", "endless", "an endless road", "Midjourney sent no result within 1 s."),
]


@pytest.mark.parametrize(
    ("knob", "word", "prompt", "message"),
    STUCK_STAGES,
    ids=["stalled-after-waiting-message", "no-final-grid"],
)
async def test_stuck_render_fails_after_its_stage_timeout(
    tmp_path: Path, knob: str, word: str, prompt: str, message: str
) -> None:
    async with start_product(tmp_path, timeouts=TIMEOUTS) as product:
        setattr(product.knobs, knob, frozenset({word}))
        outcome = await run_with_stuck_row(product, prompt)

    [line] = outcome.lines_of(3)
    assert line.status == "failed"
    assert line.category == "timed-out"
    assert line.message == message
    assert line.attempts == 1  # Midjourney took the prompt, so sending it again could double it
    assert_clean_rows_done(outcome)


async def test_grid_only_in_history_is_found_after_deletion(tmp_path: Path) -> None:
    # The progress message's deletion arrives, its grid's event does not: before calling
    # it moderation, the tracker reads the channel history and finds the grid.
    async with start_product(tmp_path, timeouts=TIMEOUTS) as product:
        product.knobs.undelivered_final_words = frozenset({"hidden"})
        outcome = await run_with_stuck_row(product, "a hidden door")

    [line] = outcome.lines_of(3)
    assert (line.status, line.category, line.attempts) == ("done", "", 1)
    assert "003-a-hidden-door_grid.png" in outcome.images()
    assert_clean_rows_done(outcome)


async def test_grid_only_in_history_is_found_at_final_timeout(tmp_path: Path) -> None:
    # With a long deletion grace, the final-stage timeout is the first to look.
    timeouts = TIMEOUTS | {"deleted_progress_grace": 60.0}
    async with start_product(tmp_path, timeouts=timeouts) as product:
        product.knobs.undelivered_final_words = frozenset({"hidden"})
        outcome = await run_with_stuck_row(product, "a hidden door")

    [line] = outcome.lines_of(3)
    assert (line.status, line.category, line.attempts) == ("done", "", 1)
    assert "003-a-hidden-door_grid.png" in outcome.images()
    assert_clean_rows_done(outcome)
