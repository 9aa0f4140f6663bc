"""Intake results: rows ready to become jobs, and problems that name their cell."""

from __future__ import annotations

from dataclasses import dataclass, field


class IntakeError(Exception):
    """The file as a whole cannot be read (wrong type, no header row, too many rows).

    ``str(error)`` is a message safe to show to the user; it names the file and the fix.
    """


@dataclass(frozen=True, slots=True)
class CellProblem:
    """One thing wrong with one cell, worded so the user can find and fix it."""

    sheet: str
    row: int
    column: str  # the column letter, "C"
    field: str  # the canonical column name, "stylize"
    message: str  # what is wrong, with the value: "stylize 5000 is out of range 0-1000"
    fix: str  # how to fix it: "Use a whole number from 0 to 1000."

    def __str__(self) -> str:
        return f"{self.sheet}!{self.column}{self.row} ({self.field}): {self.message}. {self.fix}"


@dataclass(frozen=True, slots=True)
class SheetRow:
    """A row of the sheet after validation.

    ``prompts`` holds one final prompt per permutation, already built by the prompt
    grammar (image URLs, text, parameters). The row makes ``len(prompts) * repeat`` jobs.
    A row with ``status`` "skipped" (empty prompt, ``enabled`` false) or "invalid" makes
    none, and ``reason`` says why.
    """

    number: int  # the row number as the spreadsheet shows it
    values: dict[str, str]  # header text -> the cell's visible text, in sheet order
    status: str  # "accepted", "skipped" or "invalid" (storage.models.RowStatus values)
    reason: str = ""
    prompts: tuple[str, ...] = ()
    repeat: int = 1
    upscales: tuple[int, ...] = ()  # 1-4; empty means the batch default applies
    upscales_set: bool = False  # True when the row's upscale cell was filled ("none" too)
    variations: tuple[int, ...] = ()
    filename: str = ""
    folder: str = ""
    mode: str = ""  # "fast", "relax", "turbo" or "" for the batch default
    problems: tuple[CellProblem, ...] = ()


@dataclass(slots=True)
class SheetIntake:
    """A whole sheet after reading and validation."""

    filename: str
    sheet_name: str
    headers: list[str]
    rows: list[SheetRow] = field(default_factory=list)
    # Notes that are not errors, e.g. "hidden sheet 'Old' was not read".
    notices: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[CellProblem]:
        """Return every problem of every row, in row order."""
        return [problem for row in self.rows for problem in row.problems]

    @property
    def accepted_rows(self) -> list[SheetRow]:
        """Return the rows that will become jobs."""
        return [row for row in self.rows if row.status == "accepted"]

    @property
    def job_count(self) -> int:
        """Return how many jobs the accepted rows make."""
        return sum(len(row.prompts) * row.repeat for row in self.accepted_rows)
