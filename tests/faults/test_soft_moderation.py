"""Soft moderation ("Action needed to continue") through the whole product.

The connection's owner chooses whether MidJAu fails the row at once or presses Appeal.
An accepted appeal runs the job as a new render, which must still reach its row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.rig import Outcome, Product, start_product

pytestmark = pytest.mark.e2e

ROWS = ["a red fox", "a spicy grey owl", "a koi pond"]


def appeal_presses(product: Product) -> list[str]:
    """Return the ids of the notices whose Appeal button the user's account pressed."""
    simulator = product.sandbox.midjourney
    assert simulator is not None
    return list(simulator.moderation.pressed)


async def run_soft_moderated(
    tmp_path: Path, *, appeals: bool, appeal_succeeds: bool = True
) -> tuple[Outcome, list[str]]:
    """Run ROWS with row 3 soft-moderated; return the outcome and the Appeal presses."""
    async with start_product(tmp_path) as product:
        if appeals:
            # Set as the user would with /connection settings.
            assert await product.service.engine.set_connection_choices(
                product.connection_id, product.user_id, appeal_soft_moderation=True
            )
        product.knobs.soft_moderated_words = frozenset({"spicy"})
        product.knobs.appeal_succeeds = appeal_succeeds
        batch_id = await product.run_sheet(ROWS)
        outcome = await product.finish(batch_id)
        return outcome, appeal_presses(product)


def statuses(outcome: Outcome) -> list[tuple[int, str]]:
    return [(line.row, line.status) for line in outcome.lines]


async def test_appeals_off_fails_row_as_moderated(tmp_path: Path) -> None:
    outcome, pressed = await run_soft_moderated(tmp_path, appeals=False)

    assert statuses(outcome) == [(2, "done"), (3, "failed"), (4, "done")]
    (owl,) = outcome.lines_of(3)
    assert owl.category == "moderated"
    assert "Action needed to continue: Our AI moderators" in owl.message
    assert "appeals are off for this connection" in owl.message
    assert owl.files == []
    assert pressed == []


async def test_accepted_appeal_delivers_row_images(tmp_path: Path) -> None:
    outcome, pressed = await run_soft_moderated(tmp_path, appeals=True)

    assert statuses(outcome) == [(2, "done"), (3, "done"), (4, "done")]
    assert outcome.images() == [
        "002-a-red-fox_grid.png",
        "003-a-spicy-grey-owl_grid.png",
        "004-a-koi-pond_grid.png",
    ]
    (owl,) = outcome.lines_of(3)
    assert owl.attempts == 1
    assert len(pressed) == 1


async def test_rejected_appeal_fails_row_with_verdict(tmp_path: Path) -> None:
    outcome, pressed = await run_soft_moderated(tmp_path, appeals=True, appeal_succeeds=False)

    assert statuses(outcome) == [(2, "done"), (3, "failed"), (4, "done")]
    (owl,) = outcome.lines_of(3)
    assert owl.category == "moderated"
    assert owl.message.startswith("Appeal rejected: After a second check")
    assert owl.files == []
    assert len(pressed) == 1
