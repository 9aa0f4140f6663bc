"""The template workbook and the example sheet both read cleanly through intake."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from openpyxl import load_workbook

from pipeline.intake import read_sheet, write_template
from pipeline.intake.columns import COLUMNS
from pipeline.intake.template import TEMPLATE_COLUMNS, TEMPLATE_ROWS
from tests.pipeline.intake.workbooks import SETTINGS

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_template_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)

    intake = read_sheet(path.read_bytes(), path.name, settings=SETTINGS)

    assert intake.sheet_name == "Prompts"
    assert intake.headers == list(TEMPLATE_COLUMNS)
    assert len(intake.rows) == len(TEMPLATE_ROWS)
    assert [row.status for row in intake.rows] == ["accepted", "accepted", "accepted", "skipped"]
    assert intake.problems == []
    assert intake.rows[0].upscales == (1, 3)
    assert len(intake.rows[1].prompts) == 2
    assert intake.rows[2].repeat == 2


def test_template_columns_tab_explains_every_column(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)

    workbook = load_workbook(path)
    assert workbook.sheetnames == ["Prompts", "Columns"]
    explained = workbook["Columns"]
    names = [row[0] for row in explained.iter_rows(min_row=2, values_only=True) if row[0]]
    assert names[: len(COLUMNS)] == [column.name for column in COLUMNS]
    for row in explained.iter_rows(min_row=2, max_row=len(COLUMNS) + 1, values_only=True):
        assert all(row[index] for index in (0, 2, 3, 4)), row


def test_template_header_is_styled(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    write_template(path)

    sheet = load_workbook(path)["Prompts"]
    assert sheet["A1"].font.bold
    assert sheet.freeze_panes == "B2"
    assert sheet.column_dimensions["A"].width == 60
    assert sheet["D2"].number_format == "@"  # aspect_ratio stays text when typed


def _load_example_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_prompts", EXAMPLES / "make_prompts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_sheet_matches_its_script() -> None:
    script = _load_example_script()
    sheet = load_workbook(EXAMPLES / "prompts.xlsx")["Prompts"]

    # Rows below the data are formatted as text but hold nothing.
    rows = [row for row in sheet.iter_rows(values_only=True) if any(row)]

    assert rows[0] == script.HEADERS
    expected = [tuple(row.get(h) for h in script.HEADERS) for row in script.ROWS]
    assert rows[1:] == expected


def test_example_sheet_has_one_invalid_row() -> None:
    intake = read_sheet((EXAMPLES / "prompts.xlsx").read_bytes(), "prompts.xlsx", settings=SETTINGS)

    invalid = [row for row in intake.rows if row.status == "invalid"]
    skipped = [row for row in intake.rows if row.status == "skipped"]
    assert len(intake.rows) >= 25
    assert len(invalid) == 1
    assert len(skipped) == 1
    assert invalid[0].problems[0].field == "parameters"
    assert "--stylise" in invalid[0].problems[0].message
    assert "--stylize" in invalid[0].problems[0].fix
    assert intake.job_count <= 40


def test_example_sheet_covers_the_features() -> None:
    intake = read_sheet((EXAMPLES / "prompts.xlsx").read_bytes(), "prompts.xlsx", settings=SETTINGS)
    accepted = intake.accepted_rows

    assert any(len(row.prompts) == 2 for row in accepted)  # the {red, blue} permutation
    assert any(row.repeat > 1 for row in accepted)
    assert {row.upscales for row in accepted} >= {(1,), (1, 3), (1, 2, 3, 4)}
    assert any(row.upscales_set and not row.upscales for row in accepted)  # "none"
    assert any(row.prompts[0].startswith("https://example.com/") for row in accepted)
    assert any(row.filename for row in accepted)
    assert all(row.folder for row in accepted)
