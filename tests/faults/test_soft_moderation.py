"""Soft moderation ("Action needed to continue") through the whole product.

The connection's owner chooses whether MidJAu fails the row at once or presses Appeal.
An accepted appeal runs the job as a new render, which must still reach its row.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.models import MidjourneyConnection
from tests.faults.rig import Product, start_product

pytestmark = pytest.mark.e2e

ROWS = ["a red fox", "a spicy grey owl", "a koi pond"]


async def choose_appeals(product: Product, appeal: bool) -> None:
    """Set the connection's soft-moderation choice as the user would in Discord."""
    engine = product.service.engine
    choose = getattr(engine, "set_connection_choices", None)
    if choose is not None:
        changed = await choose(
            product.connection_id, product.user_id, appeal_soft_moderation=appeal
        )
        assert changed
        return
    async with engine.ledger.transaction() as session:
        connection = await session.get(MidjourneyConnection, product.connection_id)
        assert connection is not None
        connection.appeal_soft_moderation = appeal
    engine.tracker.set_appeal_choice(product.connection_id, appeal)


def appeal_presses(product: Product) -> list[str]:
    """Return the ids of the notices whose Appeal button the user's account pressed."""
    simulator = product.sandbox.midjourney
    assert simulator is not None
    return list(simulator.moderation.pressed)


async def test_appeals_off_fails_row_as_moderated(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        product.knobs.soft_moderated_words = frozenset({"spicy"})
        batch_id = await product.run_sheet(ROWS)
        outcome = await product.finish(batch_id)
        pressed = appeal_presses(product)

    assert [(line.row, line.status) for line in outcome.lines] == [
        (2, "done"),
        (3, "failed"),
        (4, "done"),
    ]
    (owl,) = outcome.lines_of(3)
    assert owl.category == "moderated"
    assert "Action needed to continue: Our AI moderators" in owl.message
    assert "appeals are off for this connection" in owl.message
    assert owl.files == []
    assert pressed == []


async def test_accepted_appeal_delivers_row_images(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await choose_appeals(product, True)
        product.knobs.soft_moderated_words = frozenset({"spicy"})
        batch_id = await product.run_sheet(ROWS)
        outcome = await product.finish(batch_id)
        pressed = appeal_presses(product)

    assert [(line.row, line.status) for line in outcome.lines] == [
        (2, "done"),
        (3, "done"),
        (4, "done"),
    ]
    assert outcome.images() == [
        "002-a-red-fox_grid.png",
        "003-a-spicy-grey-owl_grid.png",
        "004-a-koi-pond_grid.png",
    ]
    (owl,) = outcome.lines_of(3)
    assert owl.attempts == 1
    assert len(pressed) == 1


async def test_rejected_appeal_fails_row_with_verdict(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        await choose_appeals(product, True)
        product.knobs.soft_moderated_words = frozenset({"spicy"})
        product.knobs.appeal_succeeds = False
        batch_id = await product.run_sheet(ROWS)
        outcome = await product.finish(batch_id)
        pressed = appeal_presses(product)

    assert [(line.row, line.status) for line in outcome.lines] == [
        (2, "done"),
        (3, "failed"),
        (4, "done"),
    ]
    (owl,) = outcome.lines_of(3)
    assert owl.category == "moderated"
    assert owl.message.startswith("Appeal rejected: After a second check")
    assert owl.files == []
    assert len(pressed) == 1
