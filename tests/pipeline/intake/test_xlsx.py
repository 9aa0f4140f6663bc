"""Reading .xlsx workbooks: header search, sheet choice, long formatted sheets, limits."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import PatternFill

from midjau.settings import IntakeSettings
from pipeline.intake import IntakeError, read_sheet
from pipeline.intake.table import EMPTY_RUN_LIMIT
from tests.pipeline.intake.workbooks import SETTINGS, fill, read_rows, workbook_bytes


def test_header_below_title_rows() -> None:
    intake = read_rows(
        [
            ["Spring campaign prompts"],
            ["Owner: studio team", None, "Due: Friday"],
            [],
            ["Prompt", "AR", "Upscale"],
            ["a red fox in snow", "16:9", "U2"],
        ]
    )

    assert intake.headers == ["Prompt", "AR", "Upscale"]
    assert len(intake.rows) == 1
    assert intake.rows[0].number == 5
    assert intake.rows[0].prompts == ("a red fox in snow --ar 16:9",)
    assert intake.rows[0].upscales == (2,)


def test_title_named_prompt_above_header() -> None:
    intake = read_rows([["Prompt"], [], ["Prompt", "Client"], ["a mill at dusk", "Acme"]])

    assert intake.headers == ["Prompt", "Client"]
    assert [row.number for row in intake.rows] == [4]


def test_header_aliases_any_spelling() -> None:
    intake = read_rows(
        [
            ["Prompt Text", "Image-URLs", "Extra Parameters", "aspect ratio", "S", "Q", "V"],
            ["a castle", "https://example.com/castle.png", "--chaos 5", "3:2", 300, 1, 7],
        ]
    )

    row = intake.rows[0]
    assert row.prompts == (
        "https://example.com/castle.png a castle --ar 3:2 --v 7 --s 300 --c 5 --q 1",
    )


def test_aliases_of_every_managed_column() -> None:
    intake = read_rows(
        [
            ["text", "file name", "subfolder", "count", "variations", "upscales", "mode", "run"],
            ["a quiet harbor", "harbor", "coast/north", 3, "V1, V4", "U2", "Relaxed", "yes"],
        ]
    )

    row = intake.rows[0]
    assert row.status == "accepted"
    assert row.filename == "harbor"
    assert row.folder == "coast/north"
    assert row.repeat == 3
    assert row.variations == (1, 4)
    assert row.upscales == (2,)
    assert row.mode == "relax"


def test_hidden_sheet_is_skipped_and_noted() -> None:
    workbook = Workbook()
    old = workbook.active
    assert old is not None
    old.title = "Old"
    fill(old, [["prompt"], ["an old prompt"]])
    old.sheet_state = "hidden"
    fill(workbook.create_sheet("Current"), [["prompt"], ["a new prompt"]])

    intake = read_sheet(workbook_bytes(workbook), "p.xlsx", settings=SETTINGS)

    assert intake.sheet_name == "Current"
    assert [row.prompts for row in intake.rows] == [("a new prompt",)]
    assert "Sheet 'Old' (hidden) was not read." in intake.notices


def test_hidden_sheet_read_when_named() -> None:
    workbook = Workbook()
    fill(workbook.active, [["prompt"], ["visible prompt"]])  # type: ignore[arg-type]
    hidden = fill(workbook.create_sheet("Archive"), [["prompt"], ["archived prompt"]])
    hidden.sheet_state = "veryHidden"

    intake = read_sheet(workbook_bytes(workbook), "p.xlsx", settings=SETTINGS, sheet="Archive")

    assert intake.sheet_name == "Archive"
    assert intake.rows[0].prompts == ("archived prompt",)


def test_first_sheet_without_prompt_column_is_passed_over() -> None:
    workbook = Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "Read me"
    fill(notes, [["How to use this file"], ["Fill in the Prompts tab."]])
    fill(workbook.create_sheet("Prompts"), [["prompt", "ar"], ["a lake", "4:3"]])

    intake = read_sheet(workbook_bytes(workbook), "p.xlsx", settings=SETTINGS)

    assert intake.sheet_name == "Prompts"
    assert intake.rows[0].prompts == ("a lake --ar 4:3",)
    assert "Sheet 'Read me' was not read." in intake.notices


def test_named_sheet_missing_lists_sheets() -> None:
    workbook = Workbook()
    fill(workbook.active, [["prompt"], ["x"]])  # type: ignore[arg-type]
    workbook.create_sheet("Second")

    with pytest.raises(IntakeError) as raised:
        read_sheet(workbook_bytes(workbook), "p.xlsx", settings=SETTINGS, sheet="Third")

    assert "no sheet named 'Third'" in str(raised.value)
    assert "'Sheet', 'Second'" in str(raised.value)


def test_sheet_name_match_ignores_case() -> None:
    workbook = Workbook()
    fill(workbook.active, [["prompt"], ["first"]])  # type: ignore[arg-type]
    fill(workbook.create_sheet("Batch Two"), [["prompt"], ["second"]])

    intake = read_sheet(workbook_bytes(workbook), "p.xlsx", settings=SETTINGS, sheet="batch two")

    assert intake.rows[0].prompts == ("second",)


def test_missing_prompt_column_lists_headers_and_names() -> None:
    with pytest.raises(IntakeError) as raised:
        read_rows([["Description", "Size", "Folder"], ["a red fox", "16:9", "animals"]])

    message = str(raised.value)
    assert "prompts.xlsx" in message
    assert "'Description', 'Size', 'Folder'" in message
    assert "prompt (text, prompt text)" in message
    assert "aspect_ratio (ar, aspect" in message


def test_million_row_dimension_reads_the_data() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    fill(sheet, [["prompt", "ar"], ["a red fox", "1:1"], ["a blue bird", "3:2"]])
    # Formatting with no value at the very last cell, as sheets formatted "to the bottom" have.
    sheet.cell(row=1048576, column=26).fill = PatternFill("solid", start_color="FFFF00")
    data = workbook_bytes(workbook)
    stored = load_workbook(io.BytesIO(data), read_only=True)
    assert stored.active.max_row == 1048576  # type: ignore[union-attr]
    assert stored.active.max_column == 26  # type: ignore[union-attr]

    intake = read_sheet(data, "formatted.xlsx", settings=SETTINGS)

    assert [row.number for row in intake.rows] == [2, 3]
    assert intake.rows[1].prompts == ("a blue bird --ar 3:2",)
    assert any(f"after {EMPTY_RUN_LIMIT:,} empty rows" in n for n in intake.notices)


def test_far_column_formatting_is_not_read() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    fill(sheet, [["prompt"], ["a dune at noon"]])
    sheet.cell(row=2, column=16384).fill = PatternFill("solid", start_color="FFFF00")

    intake = read_sheet(workbook_bytes(workbook), "wide.xlsx", settings=SETTINGS)

    assert intake.headers == ["prompt"]
    assert intake.rows[0].prompts == ("a dune at noon",)


def test_rows_after_a_short_gap_are_read() -> None:
    rows: list[list[object]] = [["prompt"], ["first"]]
    rows += [[]] * 300
    rows += [["second"]]

    intake = read_rows(rows)

    assert [row.number for row in intake.rows] == [2, 303]
    assert "300 empty rows between prompt rows were skipped." in intake.notices


def test_row_limit_names_the_limit_and_the_first_row_past_it() -> None:
    rows = [["prompt"]] + [[f"prompt {n}"] for n in range(7)]

    with pytest.raises(IntakeError) as raised:
        read_rows(rows, IntakeSettings(row_limit=5))

    message = str(raised.value)
    assert "has more than 5 prompt rows, the limit (row 7 holds prompt 6)" in message
    assert "Split it into files of at most 5 prompt rows" in message


def test_row_limit_reached_exactly_is_accepted() -> None:
    rows = [["prompt"]] + [[f"prompt {n}"] for n in range(5)]

    intake = read_rows(rows, IntakeSettings(row_limit=5))

    assert len(intake.rows) == 5


def test_duplicate_columns_are_rejected() -> None:
    with pytest.raises(IntakeError) as raised:
        read_rows([["prompt", "ar", "Aspect Ratio"], ["x", "1:1", "2:3"]])

    assert "columns B ('ar') and C ('Aspect Ratio')" in str(raised.value)
    assert "both mean 'aspect_ratio'" in str(raised.value)


def test_unlabelled_column_with_values_is_noted() -> None:
    intake = read_rows([["prompt", None, "ar"], ["a bridge", "stray", "1:1"]])

    assert intake.rows[0].prompts == ("a bridge --ar 1:1",)
    assert any("Column(s) B have values but no header" in n for n in intake.notices)


def test_xlsm_is_read_like_xlsx() -> None:
    workbook = Workbook()
    fill(workbook.active, [["prompt"], ["a macro-enabled prompt"]])  # type: ignore[arg-type]

    intake = read_sheet(workbook_bytes(workbook), "macros.xlsm", settings=SETTINGS)

    assert intake.rows[0].prompts == ("a macro-enabled prompt",)


def test_formula_without_cached_value_keeps_its_text() -> None:
    # openpyxl saves formulas without a cached result, so the report gets the formula text.
    intake = read_rows([["prompt", "notes"], ["a kite", "=1+1"]])

    assert intake.rows[0].values == {"prompt": "a kite", "notes": "=1+1"}


def test_header_below_search_rows_is_not_found() -> None:
    rows: list[list[object]] = [[f"note {n}"] for n in range(10)]
    rows += [["prompt"], ["a late header"]]

    with pytest.raises(IntakeError) as raised:
        read_rows(rows)

    assert "in the first 10 rows of sheet 'Prompts'" in str(raised.value)
    assert "'note 0'" in str(raised.value)
