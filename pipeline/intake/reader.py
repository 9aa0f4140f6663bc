"""Read a prompt sheet (.xlsx, .xlsm or .csv) and validate every row."""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePath

from midjau.settings import IntakeSettings
from pipeline.intake.csv_reader import read_csv_table
from pipeline.intake.model import IntakeError, SheetIntake
from pipeline.intake.table import Table
from pipeline.intake.validate import validate_table
from pipeline.intake.xlsx import read_xlsx_table

_log = logging.getLogger(__name__)

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")


def read_sheet(
    data: bytes, filename: str, *, settings: IntakeSettings, sheet: str | None = None
) -> SheetIntake:
    """Read a sheet file, validate every row and build its prompts.

    Raise ``IntakeError`` when the file as a whole cannot be used; problems of single rows
    are returned on the rows instead. This blocks on file parsing: call ``load_sheet``
    from async code.
    """
    name = PurePath(filename).name or "the file"
    if len(data) > settings.max_upload_bytes:
        raise IntakeError(
            f"{name} is {_size_text(len(data))}, more than the limit of "
            f"{_size_text(settings.max_upload_bytes)}. Split it into smaller files."
        )
    if not data.strip():
        raise IntakeError(f"{name} is empty. Add a header row with a prompt column and prompts.")

    table = _read_table(data, name, settings=settings, sheet=sheet)
    return validate_table(table, name, settings=settings)


async def load_sheet(
    data: bytes, filename: str, *, settings: IntakeSettings, sheet: str | None = None
) -> SheetIntake:
    """Read and validate a sheet in a worker thread; see ``read_sheet``."""
    return await asyncio.to_thread(read_sheet, data, filename, settings=settings, sheet=sheet)


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MiB"
    return f"{size / 1024:.0f} KiB"


def _read_table(data: bytes, name: str, *, settings: IntakeSettings, sheet: str | None) -> Table:
    suffix = PurePath(name).suffix.casefold()
    if suffix in EXCEL_SUFFIXES:
        return read_xlsx_table(data, name, settings=settings, sheet=sheet)
    if suffix in CSV_SUFFIXES:
        if sheet is not None:
            _log.debug("csv %r has no sheets; sheet %r ignored", name, sheet)
        return read_csv_table(data, name, settings=settings)
    if suffix == ".xls":
        raise IntakeError(
            f"{name} is an old Excel 97-2003 (.xls) file, which MidJAu cannot read. Open it in "
            "Excel and save it as 'Excel Workbook (.xlsx)', then send it again."
        )
    raise IntakeError(
        f"{name} is not a file MidJAu can read. Send an Excel workbook (.xlsx or .xlsm) or a "
        "CSV file (.csv)."
    )
