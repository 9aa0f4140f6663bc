"""The fault rig itself: a clean sheet runs through the product and reads back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.rig import start_product

pytestmark = pytest.mark.e2e


async def test_clean_sheet_runs_and_reports_every_row(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        batch_id = await product.run_sheet(["a red fox", "a grey owl", "a koi pond"])
        outcome = await product.finish(batch_id)

    assert [(line.row, line.status) for line in outcome.lines] == [
        (2, "done"),
        (3, "done"),
        (4, "done"),
    ]
    assert outcome.images() == [
        "002-a-red-fox_grid.png",
        "003-a-grey-owl_grid.png",
        "004-a-koi-pond_grid.png",
    ]
    assert all(line.attempts == 1 for line in outcome.lines)
