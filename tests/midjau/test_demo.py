"""End to end: a 30-row sheet through the real bot, relay, engine and simulated Midjourney.

The sandbox user runs ``/batch run`` with the sheet attached, presses "Run the valid
rows", and downloads the ZIP and the report the bot posts. Every ZIP entry and every
report line is checked against the sheet, and the run fails on any blocking call that
MidJAu's own code makes on the event loop.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from blockbuster import blockbuster_ctx
from openpyxl import Workbook, load_workbook
from PIL import Image

from midjau.demo import DemoError, _unused_path, demo_sheet
from midjau.settings import SandboxSettings, Settings

pytestmark = pytest.mark.e2e

HEADERS = [
    "prompt",
    "image_urls",
    "aspect_ratio",
    "stylize",
    "upscale",
    "repeat",
    "filename",
    "folder",
    "enabled",
    "variations",
]
PRODUCT_MODULES = ["bot", "pipeline", "midjourney", "storage", "midjau", "web"]


@dataclass
class SheetLine:
    """One row of the test sheet and what MidJAu should make of it."""

    prompt: str
    filename: str
    folder: str = ""
    image_urls: str = ""
    aspect_ratio: str = ""
    stylize: str = ""
    upscale: str = ""
    repeat: int = 1
    enabled: str = ""
    permutations: int = 1
    upscales: list[int] = field(default_factory=list)
    variation: str = ""
    variations: list[int] = field(default_factory=list)
    outcome: str = "done"

    def cells(self) -> list[Any]:
        return [
            self.prompt,
            self.image_urls,
            self.aspect_ratio,
            self.stylize,
            self.upscale,
            self.repeat if self.repeat != 1 else None,
            self.filename,
            self.folder,
            self.enabled,
            self.variation,
        ]


def thirty_lines() -> list[SheetLine]:
    lines = [SheetLine(f"a quiet harbour at dawn number {i}", f"plain-{i}") for i in range(10)]
    lines += [
        SheetLine("a red fox in snow", "fox", folder="ups", upscale="U1", upscales=[1]),
        SheetLine("an owl on a branch", "owl", folder="ups", upscale="U2, U4", upscales=[2, 4]),
        SheetLine("a koi pond", "koi", folder="ups", upscale="all", upscales=[1, 2, 3, 4]),
        SheetLine("a paper boat", "boat", folder="ups", upscale="U3", upscales=[3]),
        SheetLine("a foggy bridge", "bridge", folder="ups", upscale="none"),
        SheetLine("a lighthouse", "lighthouse", folder="reps", repeat=2),
        SheetLine(
            "a cactus in a pot", "cactus", folder="reps", repeat=3, upscale="U1", upscales=[1]
        ),
        SheetLine("a teapot", "teapot", folder="reps", repeat=2),
        SheetLine(
            "a {red, blue} kite over a field",
            "kite",
            folder="perm",
            permutations=2,
            upscale="U1",
            upscales=[1],
        ),
        SheetLine("a wide mountain range", "wide", aspect_ratio="16:9"),
        SheetLine("a tall waterfall", "tall", aspect_ratio="2:3", upscale="U2", upscales=[2]),
        SheetLine("a stylised city", "city", stylize="250"),
        SheetLine("a misty valley", "valley", aspect_ratio="3:2", stylize="50"),
        SheetLine("a ceramic vase", "vase", folder="deep/nested"),
        SheetLine(
            "a lantern festival",
            "lanterns",
            upscale="U2",
            upscales=[2],
            variation="V1, V3",
            variations=[1, 3],
        ),
        SheetLine("a disabled row", "off", enabled="no", outcome="skipped"),
        SheetLine("a bad parameter --stylise 400", "bad", outcome="invalid"),
        SheetLine(
            "in the style of this poster",
            "styled",
            image_urls="https://example.com/refs/poster.png",
        ),
        SheetLine(
            "a blend of two places",
            "blend",
            image_urls="https://example.com/a.png https://example.com/b.png",
        ),
        SheetLine("=1+2 a prompt that looks like a formula", "formula"),
    ]
    assert len(lines) == 30
    return lines


def write_sheet(path: Path, lines: list[SheetLine]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Prompts"
    sheet.append(HEADERS)
    for line in lines:
        sheet.append(line.cells())
    # Keep a prompt that starts with "=" a text cell, as a user typing '=... would.
    for row in sheet.iter_rows(min_row=2, max_col=1):
        row[0].data_type = "s"
    workbook.save(path)


def expected_entries(lines: list[SheetLine]) -> set[str]:
    """Return the image paths the ZIP must hold, following the packager's naming scheme."""
    entries: set[str] = set()
    for number, line in enumerate(lines, start=2):
        if line.outcome != "done":
            continue
        prefix = f"{line.folder}/" if line.folder else ""
        for permutation in range(1, line.permutations + 1):
            for repeat in range(1, line.repeat + 1):
                tags = ""
                if line.permutations > 1:
                    tags += f"_p{permutation}"
                if line.repeat > 1:
                    tags += f"_r{repeat}"
                stem = f"{prefix}{number:03d}-{line.filename}{tags}"
                entries.add(f"{stem}_grid.png")
                entries.update(f"{stem}_U{index}.png" for index in line.upscales)
                entries.update(f"{stem}_V{index}.png" for index in line.variations)
    return entries


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        sandbox=SandboxSettings(time_scale=0.005),
        _env_file=None,  # type: ignore[call-arg]
    )


async def test_thirty_row_sheet_runs_end_to_end(settings: Settings, tmp_path: Path) -> None:
    lines = thirty_lines()
    sheet = tmp_path / "thirty.xlsx"
    write_sheet(sheet, lines)
    out_dir = tmp_path / "out"

    with blockbuster_ctx(PRODUCT_MODULES):
        outcome = await demo_sheet(settings, sheet, out_dir)

    zip_paths = [path for path in outcome.files if path.suffix == ".zip"]
    report_paths = [path for path in outcome.files if path.suffix == ".xlsx"]
    assert len(zip_paths) == 1
    assert len(report_paths) == 1

    # Every image the sheet asks for, and nothing else but the report.
    with zipfile.ZipFile(zip_paths[0]) as archive:
        names = set(archive.namelist())
        images = {name for name in names if name.endswith(".png")}
        assert images == expected_entries(lines)
        assert names - images == {report_paths[0].name}
        for name in images:
            with Image.open(io.BytesIO(archive.read(name))) as picture:
                picture.verify()

        # Grids keep the requested aspect ratio.
        with Image.open(io.BytesIO(archive.read("021-wide_grid.png"))) as wide:
            assert wide.width / wide.height == pytest.approx(16 / 9, rel=0.01)
        with Image.open(io.BytesIO(archive.read("022-tall_grid.png"))) as tall:
            assert tall.width / tall.height == pytest.approx(2 / 3, rel=0.01)

    check_report(report_paths[0], lines)
    assert outcome.progress.done == sum(
        line.repeat * line.permutations for line in lines if line.outcome == "done"
    )
    assert outcome.progress.failed == 0


def check_report(path: Path, lines: list[SheetLine]) -> None:
    workbook = load_workbook(path)
    jobs = workbook["Jobs"]
    rows = list(jobs.iter_rows(values_only=True))
    header = list(rows[0])
    assert header[: len(HEADERS)] == HEADERS
    column = {name: header.index(name) for name in ("row", "prompt sent", "status", "image files")}

    by_row: dict[int, list[tuple[Any, ...]]] = {}
    for values in rows[1:]:
        by_row.setdefault(int(values[column["row"]]), []).append(values)

    # One report line per job, and one for every row that made no job.
    assert sorted(by_row) == list(range(2, 32))
    for number, line in enumerate(lines, start=2):
        entries = by_row[number]
        if line.outcome != "done":
            assert [entry[column["status"]] for entry in entries] == [line.outcome]
            continue
        assert len(entries) == line.repeat * line.permutations
        for entry in entries:
            assert entry[column["status"]] == "done"
            assert entry[0] == line.prompt
            assert entry[column["image files"]]

    stylised = by_row[23][0][column["prompt sent"]]
    assert "--s 250" in stylised
    assert by_row[21][0][column["prompt sent"]].endswith("--ar 16:9")
    kites = sorted(entry[column["prompt sent"]] for entry in by_row[20])
    assert kites == ["a blue kite over a field", "a red kite over a field"]

    summary = dict(workbook["Summary"].iter_rows(min_row=2, max_col=2, values_only=True))
    assert summary["finished at"] is not None
    assert summary["rows"] == 30
    assert summary["rows skipped"] == 1
    assert summary["rows invalid"] == 1

    # A prompt that looks like a formula stays text.
    for cells in jobs.iter_rows(min_row=2):
        for cell in cells:
            assert cell.data_type != "f"


async def test_sheet_without_valid_rows_stops_with_reason(
    settings: Settings, tmp_path: Path
) -> None:
    sheet = tmp_path / "bad.xlsx"
    write_sheet(
        sheet, [SheetLine("a fox --stylise 400", "fox"), SheetLine("an owl --chaos 900", "owl")]
    )

    with pytest.raises(DemoError, match="did not start a batch"):
        await asyncio.wait_for(demo_sheet(settings, sheet, tmp_path / "out"), timeout=30)

    assert not (tmp_path / "out").exists()


def test_saved_outputs_never_overwrite_earlier_ones(tmp_path: Path) -> None:
    (tmp_path / "batch-1-report.xlsx").write_bytes(b"first")
    (tmp_path / "batch-1-report-2.xlsx").write_bytes(b"second")

    assert _unused_path(tmp_path / "batch-1-report.xlsx") == tmp_path / "batch-1-report-3.xlsx"
    assert _unused_path(tmp_path / "batch-1-images.zip") == tmp_path / "batch-1-images.zip"
