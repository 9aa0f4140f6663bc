"""Every Midjourney result reaches its own row, however hard it is to tell results apart.

Each test runs a sheet through the whole product and checks every report line against
the simulated Midjourney. The job id in the line must name a job that Midjourney ran for
exactly the prompt in "prompt sent". The line's image in the ZIP must have the bytes of
that job's grid. The simulator renders a grid from the echoed prompt and a random seed, so
two jobs of one prompt still give different grids. No image may appear in two lines.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from midjau.demo import _is_result_post
from sandbox.midjourney.render import render_grid_png
from tests.faults.rig import REPLY_TIMEOUT, Outcome, Product, ReportLine, start_product

pytestmark = pytest.mark.e2e

IMAGE_URL = "https://example.com/reference.png"


async def test_grids_match_rows_without_progress(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        product.knobs.show_progress = False
        batch_id = await product.run_sheet(
            ["a red fox", "a grey owl", "a red fox", "a koi pond", "a grey owl"]
        )
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    assert [line.row for line in outcome.lines] == [2, 3, 4, 5, 6]


async def test_identical_prompts_match_by_echo_alone(tmp_path: Path) -> None:
    # No progress edits, and finals that neither reply to the waiting message nor carry
    # the interaction: only the echoed prompt ties a final to its job.
    async with start_product(tmp_path) as product:
        product.knobs.show_progress = False
        product.knobs.final_as_reply = False
        product.knobs.final_carries_interaction = False
        batch_id = await product.run_sheet(["a koi pond"] * 4 + ["a grey owl"] * 2)
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    assert len(outcome.lines) == 6


async def test_identical_prompts_and_repeats_in_flight(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        batch_id = await product.run_sheet(
            [
                "a lighthouse at dawn",
                {"prompt": "a lighthouse at dawn", "repeat": 3},
                "a lighthouse at dawn",
            ]
        )
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    assert Counter(line.row for line in outcome.lines) == {2: 1, 3: 3, 4: 1}


async def test_rewritten_prompts_match_their_rows(tmp_path: Path) -> None:
    # Midjourney shortens links, collapses spaces and appends the account's suffix. With
    # no progress and 2023 finals, the rewritten echo is the only clue.
    async with start_product(tmp_path) as product:
        product.knobs.show_progress = False
        product.knobs.final_as_reply = False
        product.knobs.final_carries_interaction = False
        product.knobs.suffix = "--v 7 --stylize 250"
        batch_id = await product.run_sheet(
            [
                {"prompt": "a cat  in   the rain", "image_urls": IMAGE_URL},
                "a cat in the rain",
                {"prompt": "a dog in the rain", "image_urls": IMAGE_URL},
                "a cat in the rain --ar 16:9",
            ]
        )
        outcome = await product.finish(batch_id)
        echoes = await assert_rows_hold_their_own_grids(product, outcome)

    assert echoes[2].startswith("<https://s.mj.run/")
    assert "a cat in the rain" in echoes[2]
    assert all(echo.endswith("--stylize 250") for echo in echoes.values())


async def test_long_prompts_with_same_cut_echo(tmp_path: Path) -> None:
    # Two prompts of thousands of characters differ only near their end. Their echoes, cut
    # to fit Discord's message limit, are equal, so only the other keys tell them apart.
    body = ", ".join(f"detail {number} of an old harbour town" for number in range(120))
    async with start_product(tmp_path) as product:
        product.knobs.echo_limit = 1800
        batch_id = await product.run_sheet([f"{body}, at dusk", f"{body}, at dawn", "a koi pond"])
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    assert len(body) > 4000
    assert [line.status for line in outcome.lines] == ["done"] * 3


async def test_long_prompts_match_by_cut_echo(tmp_path: Path) -> None:
    body = ", ".join(f"detail {number} of a quiet mountain lake" for number in range(100))
    async with start_product(tmp_path) as product:
        product.knobs.echo_limit = 1800
        product.knobs.show_progress = False
        product.knobs.final_as_reply = False
        product.knobs.final_carries_interaction = False
        batch_id = await product.run_sheet([body, "a koi pond", body])
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    assert [line.status for line in outcome.lines] == ["done"] * 3


async def test_permutations_and_repeats_match_jobs(tmp_path: Path) -> None:
    async with start_product(tmp_path) as product:
        product.knobs.show_progress = False
        batch_id = await product.run_sheet(
            [
                {"prompt": "a {red, blue} fox", "repeat": 2},
                "a {red, blue} fox",
                "a red fox",
            ]
        )
        outcome = await product.finish(batch_id)
        await assert_rows_hold_their_own_grids(product, outcome)

    sent = Counter((line.row, str(line.values["prompt sent"])) for line in outcome.lines)
    assert sent == {
        (2, "a red fox"): 2,
        (2, "a blue fox"): 2,
        (3, "a red fox"): 1,
        (3, "a blue fox"): 1,
        (4, "a red fox"): 1,
    }


async def assert_rows_hold_their_own_grids(product: Product, outcome: Outcome) -> dict[int, str]:
    """Check each report line against the job Midjourney ran for it; return echoes by row.

    The echo returned is the last seen for a row (rows with one job have exactly one).
    """
    archive = await zip_files(product, outcome.batch_id)
    simulator = product.sandbox.midjourney
    assert simulator is not None
    images = {name for name in archive if name.endswith(".png")}
    claimed: list[str] = []
    echoes: dict[int, str] = {}

    for line in outcome.lines:
        assert line.status == "done", f"row {line.row}: {line.status} {line.message}"
        job_id = str(line.values["Midjourney job id"] or "")
        job = simulator.jobs.get(job_id)
        assert job is not None, f"row {line.row}: job id {job_id!r} is no Midjourney job"
        assert job.prompt.raw == line.values["prompt sent"], f"row {line.row} got another job"
        files = image_files(line)
        assert len(files) == 1, f"row {line.row}: {files}"
        grid = render_grid_png(
            job.prompt.echo, job.seed, job.prompt.aspect, product.knobs.grid_long_side
        )
        assert archive[files[0]] == grid.data, f"row {line.row}: {files[0]} is not its grid"
        claimed += files
        echoes[line.row] = job.prompt.echo

    job_ids = [str(line.values["Midjourney job id"]) for line in outcome.lines]
    assert len(set(job_ids)) == len(job_ids), "two lines name the same Midjourney job"
    assert sorted(claimed) == sorted(images), "an image is missing or in two lines"
    assert len({archive[name] for name in images}) == len(images), "two lines hold one grid"
    return echoes


def image_files(line: ReportLine) -> list[str]:
    """Return the ZIP entries a report line names."""
    text = str(line.values["image files"] or "")
    return [name.strip() for name in text.split(",") if name.strip()]


async def zip_files(product: Product, batch_id: int) -> dict[str, bytes]:
    """Download the ZIP the bot posted for the batch and return its entries."""
    post = await product.user.wait_for_message(
        _is_result_post(product.sandbox, batch_id), timeout=REPLY_TIMEOUT
    )
    entries: dict[str, bytes] = {}
    for attachment in post.get("attachments") or ():
        if not str(attachment["filename"]).endswith(".zip"):
            continue
        data = await product.user.download(str(attachment["url"]))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries |= {name: archive.read(name) for name in archive.namelist()}
    return entries
