"""Sheets with many rows are refused fast, counting only the rows that have a prompt."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from midjau.settings import IntakeSettings
from pipeline.intake import IntakeError, read_sheet
from pipeline.intake.table import ROWS_READ_PER_PROMPT_ROW
from tests.pipeline.intake.workbooks import read_rows, workbook_bytes


def _notes_only_workbook(note_rows: int) -> bytes:
    """Return a workbook with one prompt row, then rows that hold only a note."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Prompts")
    sheet.append(["prompt", "notes"])
    sheet.append(["a red fox", "first"])
    for number in range(note_rows):
        sheet.append([None, f"note {number}"])
    return workbook_bytes(workbook)


def test_rows_without_a_prompt_do_not_count_toward_the_limit() -> None:
    rows: list[list[object]] = [["prompt", "notes"], ["a red fox", "x"]]
    rows += [[None, f"note {n}"] for n in range(8)]
    rows += [["a blue bird", "y"]]

    intake = read_rows(rows, IntakeSettings(row_limit=2))

    assert len(intake.accepted_rows) == 2
    assert [row.number for row in intake.accepted_rows] == [2, 11]


def test_many_rows_without_prompts_are_refused_after_the_read_bound() -> None:
    limit = 10
    bound = limit * ROWS_READ_PER_PROMPT_ROW
    data = _notes_only_workbook(bound + 50)

    with pytest.raises(IntakeError) as raised:
        read_sheet(data, "manyrows.xlsx", settings=IntakeSettings(row_limit=limit))

    message = str(raised.value)
    assert f"has too many rows: MidJAu reads at most {bound:,} rows below the header" in message
    assert f"the first {bound:,} hold only 1 prompt row" in message
    assert "prompt rows, the limit" not in message
