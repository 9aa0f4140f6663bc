"""The Excel report of a batch: "Jobs" (one line per job), "Summary" and "Failed rows".

The "Failed rows" sheet repeats the original cells of every row that failed, was invalid
or was cancelled, under the batch's own headers and nothing else, so the user can fix
those rows and send the sheet back as a new batch. It keeps its header when no row failed.

The lines come a chunk of rows at a time and wait in temporary files, and the workbook
is written in openpyxl's write-only mode, which streams rows to disk, so memory stays
flat however many jobs a batch has.

Text from the sheet, from Midjourney or from users is always stored as a string cell,
never as a formula. Text that a spreadsheet could read as a formula also gets the quote
prefix, so it stays text when someone edits the cell in Excel. That is text starting with
``=``, ``+``, ``-`` or ``@`` (also after leading whitespace), or with a tab or line break.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from storage.blobs import open_atomic

JOB_COLUMNS = (
    "row",
    "prompt sent",
    "status",
    "failure category",
    "failure message",
    "attempts",
    "Midjourney job id",
    "image files",
    "Discord message",
    "sent at",
    "started at",
    "finished at",
    "duration (s)",
)
SUMMARY_COLUMNS = ("item", "value")
FAILED_ROWS_SHEET = "Failed rows"
MAX_CELL_TEXT = 32767  # Excel's limit on the characters of one cell
MAX_COLUMN_WIDTH = 60
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_BOLD = Font(bold=True)
_LINK = Font(color="0563C1", underline="single")

CellValue = str | int | float | datetime | None


@dataclass(frozen=True, slots=True)
class ReportLine:
    """One line of the Jobs sheet: a job, or a row that made no job."""

    original: tuple[CellValue, ...]  # the row's cells in the batch's header order
    row_number: int
    prompt: str
    status: str
    failure_category: str
    failure_message: str
    attempts: int | None
    midjourney_job_id: str
    image_files: tuple[str, ...]
    discord_link: str
    sent_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from sending the prompt to the job's end, when both are known."""
        if self.sent_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.sent_at).total_seconds(), 1)

    def values(self) -> tuple[CellValue, ...]:
        """Return the cells of this line, in the Jobs sheet's column order."""
        return (
            *self.original,
            self.row_number,
            self.prompt,
            self.status,
            self.failure_category,
            self.failure_message,
            self.attempts,
            self.midjourney_job_id,
            ", ".join(self.image_files),
            self.discord_link,
            self.sent_at,
            self.started_at,
            self.finished_at,
            self.duration_seconds,
        )


def looks_like_formula(text: str) -> bool:
    """Return whether a spreadsheet could read ``text`` as a formula."""
    if text.startswith(("\t", "\r", "\n")):
        return True
    return text.lstrip().startswith(_FORMULA_STARTS)


class SpooledSheet:
    """Rows of one sheet kept in a temporary file until the workbook is written.

    The workbook is written by one call in one thread (``write_report``), so no open
    openpyxl writer outlives a chunk, and the column widths fit every row, not only the
    first ones. On POSIX systems the file has no name on disk, and it goes when closed.
    """

    def __init__(self, header: Sequence[str]) -> None:
        self.header = tuple(header)
        self.widths = [len(str(title)) for title in self.header]
        self._file = tempfile.TemporaryFile()

    def append(self, rows: Iterable[Sequence[CellValue]]) -> None:
        """Add rows, widening the columns they need."""
        for row in rows:
            cells = tuple(row)
            _widen(self.widths, cells)
            pickle.dump(cells, self._file, protocol=pickle.HIGHEST_PROTOCOL)

    def rows(self) -> Iterator[tuple[CellValue, ...]]:
        """Read the rows back in the order they were added."""
        self._file.seek(0)
        while True:
            try:
                yield pickle.load(self._file)  # noqa: S301 - written by append above
            except EOFError:
                return

    def close(self) -> None:
        """Delete the temporary file."""
        self._file.close()


class ReportLines:
    """The Jobs and "Failed rows" sheets of a report, added a chunk of rows at a time."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.jobs = SpooledSheet((*headers, *JOB_COLUMNS))
        self.failed_rows = SpooledSheet(headers)

    def append(
        self, lines: Sequence[ReportLine], failed_rows: Sequence[Sequence[CellValue]] = ()
    ) -> None:
        """Add ``lines`` to the Jobs sheet and ``failed_rows`` to the "Failed rows" sheet.

        ``failed_rows`` contains the original cells, in header order, of each row that
        failed, was invalid or was cancelled.
        """
        self.jobs.append(line.values() for line in lines)
        self.failed_rows.append(failed_rows)

    def close(self) -> None:
        """Delete the temporary files."""
        self.jobs.close()
        self.failed_rows.close()


def write_report(path: Path, lines: ReportLines, summary: Sequence[tuple[str, CellValue]]) -> None:
    """Write the report workbook to ``path``, replacing any earlier file atomically."""
    workbook = Workbook(write_only=True)
    _write_sheet(
        workbook.create_sheet("Jobs"), lines.jobs.header, lines.jobs.widths, lines.jobs.rows()
    )
    summary_widths = [len(title) for title in SUMMARY_COLUMNS]
    for item in summary:
        _widen(summary_widths, item)
    _write_sheet(workbook.create_sheet("Summary"), SUMMARY_COLUMNS, summary_widths, summary)
    failed = lines.failed_rows
    _write_sheet(
        workbook.create_sheet(FAILED_ROWS_SHEET), failed.header, failed.widths, failed.rows()
    )
    with open_atomic(path) as handle:
        workbook.save(handle)


def _write_sheet(
    sheet: WriteOnlyWorksheet,
    header: Sequence[str],
    widths: Sequence[int],
    rows: Iterable[Sequence[CellValue]],
) -> None:
    # Write-only sheets take widths and panes only before the first row is written.
    for number, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = min(width, MAX_COLUMN_WIDTH) + 2
    sheet.freeze_panes = "A2"
    sheet.append([_cell(sheet, str(title), font=_BOLD) for title in header])
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])


def _widen(widths: list[int], row: Sequence[CellValue]) -> None:
    """Raise each column's width to fit this row's cell."""
    for number, value in enumerate(row):
        length = 19 if isinstance(value, datetime) else len(str(value or ""))
        if number < len(widths):
            widths[number] = max(widths[number], length)
        else:
            widths.append(length)


def _cell(sheet: WriteOnlyWorksheet, value: CellValue, *, font: Font | None = None) -> Cell:
    if isinstance(value, datetime):
        # Excel has no time zones, so every time is written as UTC and the summary states it.
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        cell = WriteOnlyCell(sheet, value=naive)
        cell.number_format = DATETIME_FORMAT
    elif isinstance(value, str):
        cell = _text_cell(sheet, value)
    else:
        cell = WriteOnlyCell(sheet, value=value)

    if font is not None:
        cell.font = font
    if isinstance(value, str) and value.startswith("https://discord.com/channels/"):
        cell.hyperlink = value
        cell.font = _LINK
    return cell


def _text_cell(sheet: WriteOnlyWorksheet, text: str) -> Cell:
    # XML readers turn a bare CR into LF, so store LF and read back what was written.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:MAX_CELL_TEXT]
    cell = WriteOnlyCell(sheet, value=text)
    # openpyxl turns a string starting with "=" into a formula; force it back to text.
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell
