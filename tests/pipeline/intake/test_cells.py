"""Cell values keep the text the spreadsheet shows: numbers, dates, times and ratios."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import Workbook

from pipeline.intake import read_sheet
from pipeline.intake.cells import general_text, ratio_text, visible_text
from tests.pipeline.intake.workbooks import SETTINGS, fill, workbook_bytes


@pytest.mark.parametrize(
    ("value", "number_format", "expected"),
    [
        (7, "General", "7"),
        (7.0, "General", "7"),
        (0.1 + 0.2, "General", "0.3"),
        (1234567890, "General", "1234567890"),
        (1234567890.0, "0", "1234567890"),
        (1e20, "General", "1E+20"),
        (True, "General", "TRUE"),
        (1234.5, "#,##0.00", "1,234.50"),
        (2.5, "0", "3"),
        (0.125, "0.00%", "12.50%"),
        (5, "000", "005"),
        (-1234, "#,##0_);(#,##0)", "(1,234)"),
        (-3.5, "0.0", "-3.5"),
        (3, '"$"#,##0.00', "$3.00"),
        (12345.678, "0.00E+00", "1.23E+04"),
        (dt.datetime(2026, 12, 4), "yyyy-mm-dd", "2026-12-04"),
        (dt.datetime(2026, 12, 4), "mm-dd-yy", "12-04-26"),
        (dt.datetime(2026, 12, 4), "d-mmm-yy", "4-Dec-26"),
        (dt.datetime(2026, 12, 4), "dddd, mmmm d, yyyy", "Friday, December 4, 2026"),
        (dt.datetime(2026, 12, 4, 15, 7), "m/d/yy h:mm", "12/4/26 15:07"),
        (dt.datetime(2026, 12, 4, 15, 7), "h:mm AM/PM", "3:07 PM"),
        (dt.time(9, 5, 30), "hh:mm:ss", "09:05:30"),
        (dt.timedelta(hours=30, minutes=15), "[h]:mm", "30:15"),
        ("already text", "0.00", "already text"),
        (None, "0.00", ""),
    ],
)
def test_visible_text_renders_format(value: object, number_format: str, expected: str) -> None:
    assert visible_text(value, number_format) == expected


def test_general_text_of_dates() -> None:
    assert general_text(dt.date(2026, 12, 4)) == "2026-12-04"
    assert general_text(dt.datetime(2026, 12, 4, 8, 30)) == "2026-12-04 8:30:00"
    assert general_text(dt.time(8, 30)) == "8:30:00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.time(16, 9), "16:9"),
        (dt.time(2, 3), "2:3"),
        (dt.timedelta(hours=32, minutes=9), "32:9"),
        # openpyxl turns serial 1.3395… (32:09 shown as h:mm) into 1900-01-01 08:09.
        (dt.datetime(1900, 1, 1, 8, 9), "32:9"),
        ("16:9", "16:9"),
    ],
)
def test_ratio_text_undoes_excel_times(value: object, expected: str) -> None:
    assert ratio_text(value, "h:mm") == expected


def _read_formatted(cells: list[tuple[str, object, str]]) -> dict[str, str]:
    """Write one data row whose cells have number formats, read it, return its values."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    fill(sheet, [["prompt", *(header for header, _, _ in cells)]])
    sheet.cell(row=2, column=1, value="a sailing boat")
    for index, (_, value, number_format) in enumerate(cells, start=2):
        sheet.cell(row=2, column=index, value=value).number_format = number_format
    intake = read_sheet(workbook_bytes(workbook), "formats.xlsx", settings=SETTINGS)
    row = intake.rows[0]
    assert row.status == "accepted", row.problems
    return {**row.values, "final": row.prompts[0], "parsed_filename": row.filename}


def test_number_in_filename_keeps_its_text() -> None:
    values = _read_formatted([("filename", 7, "General")])

    assert values["filename"] == "7"


def test_date_in_text_column_shows_as_formatted() -> None:
    values = _read_formatted(
        [
            ("filename", dt.datetime(2026, 12, 4), "yyyy-mm-dd"),
            ("notes", dt.date(2026, 1, 2), "d mmm yyyy"),
        ]
    )

    assert values["filename"] == "2026-12-04"
    assert values["notes"] == "2 Jan 2026"


def test_seed_keeps_all_digits() -> None:
    values = _read_formatted([("seed", 1234567890, "General")])

    assert values["final"] == "a sailing boat --seed 1234567890"
    assert values["seed"] == "1234567890"


def test_parameter_column_ignores_decimal_format() -> None:
    # A stylize column formatted "0.00" shows 250.00 but contains the number 250.
    values = _read_formatted([("stylize", 250, "0.00"), ("chaos", 12.0, "0.0")])

    assert values["final"] == "a sailing boat --s 250 --c 12"
    assert values["stylize"] == "250.00"


def test_aspect_ratio_typed_as_time() -> None:
    # Excel turns a typed 16:9 into the time 16:09.
    values = _read_formatted([("ar", dt.time(16, 9), "h:mm")])

    assert values["final"] == "a sailing boat --ar 16:9"
    assert values["ar"] == "16:09"


def test_zero_padded_filename_keeps_zeros() -> None:
    values = _read_formatted([("filename", 7, "000")])

    assert values["filename"] == "007"
