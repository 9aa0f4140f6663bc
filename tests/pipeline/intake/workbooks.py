"""Build prompt sheets in memory for the intake tests."""

from __future__ import annotations

import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from midjau.settings import IntakeSettings
from pipeline.intake import SheetIntake, read_sheet

SETTINGS = IntakeSettings()


def fill(sheet: Worksheet, rows: Sequence[Sequence[object]]) -> Worksheet:
    """Append rows to a sheet and return it."""
    for row in rows:
        sheet.append(list(row))
    return sheet


def workbook_bytes(workbook: Workbook) -> bytes:
    """Save a workbook to .xlsx bytes."""
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_bytes(rows: Sequence[Sequence[object]], *, title: str = "Prompts") -> bytes:
    """Return an .xlsx file with one sheet holding ``rows``."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    fill(sheet, rows)
    return workbook_bytes(workbook)


def read_rows(rows: Sequence[Sequence[object]], settings: IntakeSettings = SETTINGS) -> SheetIntake:
    """Write ``rows`` to an .xlsx file and read it back."""
    return read_sheet(xlsx_bytes(rows), "prompts.xlsx", settings=settings)
