"""Midjourney's error replies fail only their own row, with Midjourney's text and a category."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.rig import Outcome, start_product

pytestmark = pytest.mark.e2e

CLEAN_ROWS = ("a red fox in snow", "a grey owl at dusk")


@dataclass(frozen=True, slots=True)
class FailureCase:
    """A prompt, the knob that makes Midjourney reject it, and the report line expected."""

    prompt: str
    knob: str
    value: frozenset[str]
    category: str
    # How the report's failure message starts: the embed's title and a colon before its text.
    start: str
    # Parts of Midjourney's own text the report's failure message must contain.
    texts: tuple[str, ...]


CASES = {
    "invalid parameter": FailureCase(
        "a koi pond --tile",
        "unsupported_parameters",
        frozenset({"tile"}),
        "invalid",
        "Invalid parameter: ",
        ("`--tile` is not compatible",),
    ),
    "invalid link": FailureCase(
        "https://example.com/broken-cat.png a cat on a sofa",
        "invalid_link_fragments",
        frozenset({"broken-cat"}),
        "invalid",
        "Invalid link: ",
        ("https://example.com/broken-cat.png", "could not be read"),
    ),
    "banned prompt": FailureCase(
        "a skull on a desk",
        "banned_words",
        frozenset({"skull"}),
        "moderated",
        "Banned prompt detected: ",
        ("The word `skull` is banned",),
    ),
    "output filter": FailureCase(
        "a gear train",
        "filtered_words",
        frozenset({"gear"}),
        "filtered",
        "Request cancelled due to output filters: ",
        ("blocked by our output filters",),
    ),
    "could not complete": FailureCase(
        "a copper kettle",
        "failing_words",
        frozenset({"kettle"}),
        "midjourney-error",
        "Could not complete: ",
        ("Sorry! Could not complete the job.",),
    ),
    "failed to process": FailureCase(
        "a tiger at rest",
        "unprocessable_words",
        frozenset({"tiger"}),
        "midjourney-error",
        "Failed to process your command",
        (),
    ),
}


def assert_clean_rows_done(outcome: Outcome) -> None:
    """Check that rows 2 and 4, around the faulty row 3, finished on their first send."""
    for row in (2, 4):
        [line] = outcome.lines_of(row)
        assert (line.status, line.attempts) == ("done", 1), f"row {row}: {line.values}"


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_error_answer_fails_only_its_row(tmp_path: Path, case: FailureCase) -> None:
    async with start_product(tmp_path) as product:
        setattr(product.knobs, case.knob, case.value)
        batch_id = await product.run_sheet([CLEAN_ROWS[0], case.prompt, CLEAN_ROWS[1]])
        outcome = await product.finish(batch_id)

    [line] = outcome.lines_of(3)
    assert line.status == "failed"
    assert line.category == case.category
    assert line.message.startswith(case.start)
    for text in case.texts:
        assert text in line.message
    assert line.attempts == 1
    assert line.files == []
    assert_clean_rows_done(outcome)
    assert outcome.images() == ["002-a-red-fox-in-snow_grid.png", "004-a-grey-owl-at-dusk_grid.png"]


async def test_deletion_mid_render_fails_row_as_moderated(tmp_path: Path) -> None:
    async with start_product(tmp_path, timeouts={"deleted_progress_grace": 0.3}) as product:
        product.knobs.post_moderated_words = frozenset({"lantern"})
        product.knobs.post_moderation_percent = 93
        batch_id = await product.run_sheet([CLEAN_ROWS[0], "a paper lantern", CLEAN_ROWS[1]])
        outcome = await product.finish(batch_id)

    [line] = outcome.lines_of(3)
    assert line.status == "failed"
    assert line.category == "moderated"
    assert "deleted the progress message" in line.message
    assert line.attempts == 1
    assert_clean_rows_done(outcome)
