"""Find the header row of a sheet and collect its data rows, whatever the file format was.

The readers (xlsx, csv) hand over rows of raw cells. This module finds the header, maps
columns to their canonical names, finds where the data ends and enforces the row limit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from openpyxl.utils import get_column_letter

from midjau.settings import IntakeSettings
from pipeline.intake.cells import visible_text
from pipeline.intake.columns import accepted_names, canonical_name
from pipeline.intake.model import IntakeError

_log = logging.getLogger(__name__)

# The header must be in one of the first rows; a title or a note may sit above it.
HEADER_SEARCH_ROWS = 10
# After this many empty rows in a row the data is taken to have ended. Sheets whose
# formatting reaches row 1,048,576 would otherwise be walked to the bottom.
EMPTY_RUN_LIMIT = 1000
# Columns past this one are never read, because openpyxl pads every row to the width asked for.
MAX_COLUMNS = 100
# Rows read below the header, per allowed prompt row, before a sheet is refused. A sheet of
# a million rows that hold notes but no prompts would otherwise be read to the bottom.
ROWS_READ_PER_PROMPT_ROW = 20


@dataclass(frozen=True, slots=True)
class RawCell:
    """A cell as the file stores it: a typed value and its number format."""

    value: object
    number_format: str = "General"
    # The formula ("=1+1") of a cell saved without its result, else "".
    formula: str = ""

    @property
    def text(self) -> str:
        return visible_text(self.value, self.number_format).strip()

    @property
    def is_blank(self) -> bool:
        """Tell whether the cell shows no text and contains no formula."""
        return not self.formula and not self.text


EMPTY = RawCell(None)
RawRow = tuple[int, Sequence[RawCell]]  # the row number and its cells from column A on


@dataclass(slots=True)
class Header:
    """The header row: what each column is called and which canonical column it is."""

    row_number: int
    texts: list[str]  # the header cell text per column index, "" for a blank header
    names: dict[int, str]  # column index -> canonical name, for known columns only

    @property
    def width(self) -> int:
        return len(self.texts)

    def index_of(self, name: str) -> int | None:
        """Return the column index of a canonical column, or None when the sheet lacks it."""
        return next((i for i, n in self.names.items() if n == name), None)


@dataclass(slots=True)
class Table:
    """A sheet's header and its non-empty data rows, ready for validation."""

    sheet_name: str
    header: Header
    rows: list[RawRow]
    notices: list[str] = field(default_factory=list)


def row_texts(cells: Sequence[RawCell]) -> list[str]:
    """Return the visible, stripped text of each cell."""
    return [cell.text for cell in cells]


def is_empty(cells: Sequence[RawCell]) -> bool:
    """Tell whether every cell of a row is blank."""
    return all(cell.is_blank for cell in cells)


def find_header(rows: Sequence[RawRow]) -> Header | None:
    """Return the row with the most known column names that includes a prompt column.

    Ties go to the row with more filled cells, so a one-cell title "Prompt" above a
    header "Prompt | Notes" loses, and then to the higher row.
    """
    best: Header | None = None
    best_score = (0, 0)
    for number, cells in rows:
        texts = row_texts(cells)
        names = {i: name for i, text in enumerate(texts) if (name := canonical_name(text))}
        if "prompt" not in names.values():
            continue
        score = (len(names), sum(1 for text in texts if text))
        if best is None or score > best_score:
            best, best_score = Header(number, _trim(texts), names), score
    return best


def describe_headers(rows: Sequence[RawRow]) -> str:
    """Describe the likeliest header row for an error message: the first non-empty one."""
    for _, cells in rows:
        texts = [text for text in row_texts(cells) if text]
        if texts:
            return ", ".join(f"'{text}'" for text in texts[:20])
    return "none (the first rows are empty)"


def missing_prompt_error(filename: str, sheet_name: str, rows: Sequence[RawRow]) -> IntakeError:
    """Build the error for a sheet without a recognisable prompt column."""
    return IntakeError(
        f"{filename}: no header row with a prompt column was found in the first "
        f"{HEADER_SEARCH_ROWS} rows of sheet '{sheet_name}'. Headers found: "
        f"{describe_headers(rows)}. Name the column that holds the prompts 'prompt'. "
        f"Accepted column names: {accepted_names()}."
    )


def build_table(
    sheet_name: str,
    header: Header,
    rows: Iterable[RawRow],
    *,
    filename: str,
    settings: IntakeSettings,
) -> Table:
    """Collect the data rows below the header, stopping at a long empty run or the limit."""
    _reject_duplicate_columns(filename, sheet_name, header)
    table = Table(sheet_name, header, [])
    below = ((number, cells) for number, cells in rows if number > header.row_number)

    empty_between = _collect(table, below, filename=filename, limit=settings.row_limit)

    if empty_between:
        table.notices.append(f"{empty_between} empty rows between prompt rows were skipped.")
    unknown = [t for i, t in enumerate(header.texts) if t and i not in header.names]
    if unknown:
        listed = ", ".join(f"'{text}'" for text in unknown)
        table.notices.append(f"Columns MidJAu does not use, copied to the report: {listed}.")
    _note_unlabelled_columns(table)
    return table


def _collect(table: Table, rows: Iterator[RawRow], *, filename: str, limit: int) -> int:
    """Append non-empty rows to the table; return how many empty rows lay between them.

    Only rows with a prompt count toward the limit, and reading stops at the first prompt
    row past it, or once too many rows were read in all.
    """
    prompt_index = table.header.index_of("prompt")
    max_rows_read = limit * ROWS_READ_PER_PROMPT_ROW
    prompt_rows = 0
    empty_run = 0
    empty_between = 0
    for number, cells in rows:
        if number - table.header.row_number > max_rows_read:
            raise _too_many_rows_read_error(filename, table, max_rows_read, prompt_rows)
        if is_empty(cells):
            empty_run += 1
            if empty_run >= EMPTY_RUN_LIMIT:
                _note_early_stop(table, number)
                break
            continue

        empty_between += empty_run
        empty_run = 0
        if _has_prompt(cells, prompt_index):
            prompt_rows += 1
            if prompt_rows > limit:
                raise _too_many_prompt_rows_error(filename, table.sheet_name, number, limit)
        table.rows.append((number, tuple(cells)))
    _log.debug(
        "sheet %r: %d rows read, %d with a prompt", table.sheet_name, len(table.rows), prompt_rows
    )
    return empty_between


def _has_prompt(cells: Sequence[RawCell], prompt_index: int | None) -> bool:
    if prompt_index is None or prompt_index >= len(cells):
        return False
    return not cells[prompt_index].is_blank


def _too_many_prompt_rows_error(
    filename: str, sheet_name: str, number: int, limit: int
) -> IntakeError:
    return IntakeError(
        f"{filename}: sheet '{sheet_name}' has more than {limit:,} prompt rows, the limit "
        f"(row {number:,} holds prompt {limit + 1:,}). Split it into files of at most "
        f"{limit:,} prompt rows and send each one."
    )


def _too_many_rows_read_error(
    filename: str, table: Table, max_rows_read: int, prompt_rows: int
) -> IntakeError:
    return IntakeError(
        f"{filename}: sheet '{table.sheet_name}' has too many rows: MidJAu reads at most "
        f"{max_rows_read:,} rows below the header, and the first {max_rows_read:,} hold only "
        f"{prompt_rows:,} prompt {'row' if prompt_rows == 1 else 'rows'}. Delete the rows "
        "without a prompt, or move the prompts to a new sheet, and send it again."
    )


def _note_early_stop(table: Table, number: int) -> None:
    first_empty = number - EMPTY_RUN_LIMIT + 1
    table.notices.append(
        f"Reading stopped at row {first_empty:,} of sheet '{table.sheet_name}' after "
        f"{EMPTY_RUN_LIMIT:,} empty rows, so prompts further down, if any, were not read. "
        "Remove the empty rows if there are more prompts below them."
    )


def _reject_duplicate_columns(filename: str, sheet_name: str, header: Header) -> None:
    seen: dict[str, int] = {}
    for index, name in sorted(header.names.items()):
        if name not in seen:
            seen[name] = index
            continue
        first = seen[name]
        raise IntakeError(
            f"{filename}: columns {get_column_letter(first + 1)} ('{header.texts[first]}') and "
            f"{get_column_letter(index + 1)} ('{header.texts[index]}') of sheet "
            f"'{sheet_name}' both mean '{name}'. Keep one of them and rename or delete the other."
        )


def _note_unlabelled_columns(table: Table) -> None:
    width = table.header.width
    letters = sorted(
        {
            index
            for _, cells in table.rows
            for index, cell in enumerate(cells)
            if cell.text and (index >= width or not table.header.texts[index])
        }
    )
    if letters:
        listed = ", ".join(get_column_letter(index + 1) for index in letters)
        table.notices.append(
            f"Column(s) {listed} have values but no header, so they were not read. "
            "Give them a header to keep them in the report."
        )


def _trim(texts: list[str]) -> list[str]:
    end = len(texts)
    while end and not texts[end - 1]:
        end -= 1
    return texts[:end]
