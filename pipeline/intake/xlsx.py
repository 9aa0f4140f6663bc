"""Read an .xlsx or .xlsm workbook with openpyxl in read-only mode, streaming its rows."""

from __future__ import annotations

import io
import itertools
import logging
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from midjau.settings import IntakeSettings
from pipeline.intake.model import IntakeError
from pipeline.intake.table import (
    HEADER_SEARCH_ROWS,
    MAX_COLUMNS,
    Header,
    RawCell,
    RawRow,
    Table,
    build_table,
    find_header,
    missing_prompt_error,
)

_log = logging.getLogger(__name__)

# Old .xls files and password-protected workbooks are both OLE2 compound files.
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_SAVE_AS_XLSX = "Open it in Excel and save it as 'Excel Workbook (.xlsx)', then send it again."
# Exceptions that openpyxl and its zip and XML layers raise on a damaged workbook.
_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    InvalidFileException,
    KeyError,
    ValueError,
    SyntaxError,  # xml.etree and lxml parse errors both derive from it
    EOFError,
)
# A formula element in sheet XML: <f>, <f t="shared" .../> or a prefixed <x:f>.
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s>/]")
_SCAN_CHUNK = 1024 * 1024


def read_xlsx_table(
    data: bytes, filename: str, *, settings: IntakeSettings, sheet: str | None
) -> Table:
    """Read the chosen sheet of a workbook into a table of raw rows."""
    _reject_other_formats(data, filename)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _READ_ERRORS as error:
        _log.warning("workbook %r could not be opened: %r", filename, error)
        raise IntakeError(
            f"{filename} could not be read as an Excel workbook; it may be damaged. {_SAVE_AS_XLSX}"
        ) from error

    try:
        return _read_workbook(workbook, data, filename, settings=settings, sheet=sheet)
    except _READ_ERRORS as error:
        _log.warning("workbook %r could not be read: %r", filename, error)
        raise IntakeError(
            f"{filename} is damaged: a sheet could not be read. {_SAVE_AS_XLSX}"
        ) from error
    finally:
        workbook.close()


def _reject_other_formats(data: bytes, filename: str) -> None:
    if data.startswith(_OLE2_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise IntakeError(
                f"{filename} is protected with a password, so it cannot be read. Remove the "
                "password in Excel (File > Info > Protect Workbook > Encrypt with Password, "
                "clear the box), save, and send it again."
            )
        raise IntakeError(
            f"{filename} is an old Excel 97-2003 (.xls) file, which MidJAu cannot read. "
            f"{_SAVE_AS_XLSX}"
        )
    if not data.startswith(b"PK"):
        raise IntakeError(
            f"{filename} is not an Excel workbook (an .xlsx file is a ZIP archive and this "
            f"is not one). If it is a CSV file, rename it to .csv. Otherwise: {_SAVE_AS_XLSX}"
        )


def _read_workbook(
    workbook: Workbook, data: bytes, filename: str, *, settings: IntakeSettings, sheet: str | None
) -> Table:
    notices: list[str] = []
    worksheet, header, rows = _choose_sheet(workbook, data, filename, sheet)

    for other in workbook.worksheets:
        if other is worksheet:
            continue
        hidden = other.sheet_state != "visible"
        notices.append(f"Sheet '{other.title}'{' (hidden)' if hidden else ''} was not read.")

    table = build_table(worksheet.title, header, rows, filename=filename, settings=settings)
    table.notices[:0] = notices
    return table


def _choose_sheet(
    workbook: Workbook, data: bytes, filename: str, sheet: str | None
) -> tuple[Any, Header, Iterator[RawRow]]:
    """Pick the named sheet, else the first visible sheet with a prompt column."""
    if sheet is not None:
        worksheet = _find_sheet(workbook, filename, sheet)
        rows = _iter_rows(worksheet, data)
        first = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        header = find_header(first)
        if header is None:
            raise missing_prompt_error(filename, worksheet.title, first)
        return worksheet, header, itertools.chain(first, rows)

    visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
    if not visible:
        raise IntakeError(f"{filename} has no visible sheet. Unhide the sheet with the prompts.")
    first_scan: list[RawRow] | None = None
    for worksheet in visible:
        rows = _iter_rows(worksheet, data)
        first = list(itertools.islice(rows, HEADER_SEARCH_ROWS))
        header = find_header(first)
        if header is not None:
            return worksheet, header, itertools.chain(first, rows)
        first_scan = first if first_scan is None else first_scan
    raise missing_prompt_error(filename, visible[0].title, first_scan or [])


def _find_sheet(workbook: Workbook, filename: str, name: str) -> Any:
    for worksheet in workbook.worksheets:
        if worksheet.title == name:
            return worksheet
    for worksheet in workbook.worksheets:
        if worksheet.title.casefold() == name.strip().casefold():
            return worksheet
    names = ", ".join(f"'{ws.title}'" for ws in workbook.worksheets)
    raise IntakeError(f"{filename} has no sheet named '{name}'. Its sheets are: {names}.")


def _iter_rows(worksheet: Any, data: bytes) -> Iterator[RawRow]:
    """Yield every row with its number, cells trimmed after the last one with a value.

    Formula cells without a saved result read as empty; for sheets with formulas the
    workbook is read a second time, keeping formulas, so those cells can be named.
    """
    if not _has_formulas(worksheet):
        for number, row in _sheet_rows(worksheet):
            yield number, _raw_cells(row, ())
        return
    formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        pairs = zip(_sheet_rows(worksheet), _sheet_rows(formulas[worksheet.title]), strict=False)
        for (number, row), (_, formula_row) in pairs:
            yield number, _raw_cells(row, formula_row)
    finally:
        formulas.close()


def _sheet_rows(worksheet: Any) -> Iterator[tuple[int, Sequence[Any]]]:
    # The stored dimension (often A1:Z1048576 in sheets formatted to the bottom) is not
    # trusted, so openpyxl forgets it and yields rows only up to the last stored one.
    worksheet.reset_dimensions()
    rows = worksheet.iter_rows(min_row=1, max_col=MAX_COLUMNS)
    yield from enumerate(rows, start=1)


def _has_formulas(worksheet: Any) -> bool:
    """Scan the sheet's XML for a formula element without parsing it."""
    # openpyxl keeps no public way to the sheet's XML stream.
    with worksheet._get_source() as source:
        tail = b""
        while chunk := source.read(_SCAN_CHUNK):
            if _FORMULA_TAG.search(tail + chunk):
                return True
            tail = chunk[-16:]
    return False


def _raw_cells(row: Sequence[Any], formula_row: Sequence[Any]) -> tuple[RawCell, ...]:
    end = max(_filled_width(row), _filled_width(formula_row))
    return tuple(
        RawCell(cell.value, cell.number_format or "General", _unsaved_formula(cell, formula_row, i))
        for i, cell in enumerate(row[:end])
    )


def _filled_width(row: Sequence[Any]) -> int:
    end = len(row)
    while end and row[end - 1].value is None:
        end -= 1
    return end


def _unsaved_formula(cell: Any, formula_row: Sequence[Any], index: int) -> str:
    """Return the formula of a cell the file saved no result for, else ""."""
    if cell.value is not None or index >= len(formula_row):
        return ""
    formula = formula_row[index].value
    return formula if isinstance(formula, str) and formula.startswith("=") else ""
