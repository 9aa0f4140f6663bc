"""The Excel report of a batch: "Jobs" (one line per job), "Summary" and "Failed rows".

The "Failed rows" sheet repeats the original cells of every row that failed, was invalid
or was cancelled, under the batch's own headers and nothing else, so the user can fix
those rows and send the sheet back as a new batch. It keeps its header when no row failed.

The workbook is written in openpyxl's write-only mode, which streams rows to disk, and
the lines come in chunks of rows, so memory stays flat however many jobs a batch has.

Text from the sheet, from Midjourney or from users is always stored as a string cell,
never as a formula. Text that a spreadsheet could read as a formula also gets the quote
prefix, so it stays text when someone edits the cell in Excel. That is text starting with
``=``, ``+``, ``-`` or ``@`` (also after leading whitespace), or with a tab or line break.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


class ReportWriter:
    """A report workbook written chunk by chunk, each sheet streamed to a temporary file.

    A write-only sheet takes column widths only before its first row, so the widths fit
    the headers and the first chunk of lines.
    """

    def __init__(self, headers: Sequence[str], summary: Sequence[tuple[str, CellValue]]) -> None:
        self.headers = tuple(headers)
        self._workbook = Workbook(write_only=True)
        self._jobs = self._workbook.create_sheet("Jobs")
        summary_sheet = self._workbook.create_sheet("Summary")
        self._failed_rows = self._workbook.create_sheet(FAILED_ROWS_SHEET)
        self._started = False
        _start_sheet(summary_sheet, SUMMARY_COLUMNS, _column_widths(SUMMARY_COLUMNS, summary))
        _append_rows(summary_sheet, summary)

    def append(
        self, lines: Sequence[ReportLine], failed_rows: Sequence[Sequence[CellValue]] = ()
    ) -> None:
        """Add ``lines`` to the Jobs sheet and ``failed_rows`` to the "Failed rows" sheet.

        ``failed_rows`` contains the original cells, in header order, of each row that
        failed, was invalid or was cancelled.
        """
        values = [line.values() for line in lines]
        if not self._started:
            self._start(values)
        _append_rows(self._jobs, values)
        _append_rows(self._failed_rows, failed_rows)

    def save(self, path: Path) -> None:
        """Write the workbook to ``path``, replacing any earlier file atomically."""
        if not self._started:
            self._start([])
        with open_atomic(path) as handle:
            self._workbook.save(handle)

    def _start(self, sample: Sequence[Sequence[CellValue]]) -> None:
        header = (*self.headers, *JOB_COLUMNS)
        widths = _column_widths(header, sample)
        _start_sheet(self._jobs, header, widths)
        # The failed rows repeat the original cells, the first columns of the Jobs sheet.
        _start_sheet(self._failed_rows, self.headers, widths[: len(self.headers)])
        self._started = True


def _start_sheet(sheet: WriteOnlyWorksheet, header: Sequence[str], widths: Sequence[float]) -> None:
    for number, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_cell(sheet, str(title), font=_BOLD) for title in header])


def _append_rows(sheet: WriteOnlyWorksheet, rows: Iterable[Sequence[CellValue]]) -> None:
    for row in rows:
        sheet.append([_cell(sheet, value) for value in row])


def _column_widths(header: Sequence[str], rows: Sequence[Sequence[CellValue]]) -> list[float]:
    widths = [len(str(title)) for title in header]
    for row in rows:
        for number, value in enumerate(row):
            length = 19 if isinstance(value, datetime) else len(str(value or ""))
            if number < len(widths):
                widths[number] = max(widths[number], length)
            else:
                widths.append(length)
    return [min(width, MAX_COLUMN_WIDTH) + 2 for width in widths]


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
