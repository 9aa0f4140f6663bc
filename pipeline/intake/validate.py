"""Validate every data row of a table and build its final prompts."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from openpyxl.utils import get_column_letter

from midjau.settings import IntakeSettings
from midjourney.params import lookup
from midjourney.problems import PromptError, PromptProblem
from midjourney.prompt import build_prompt, expand_permutations
from pipeline.intake.cells import general_text, ratio_text, visible_text
from pipeline.intake.columns import COLUMNS_BY_NAME, PARAMETER_COLUMNS, ColumnKind
from pipeline.intake.model import CellProblem, SheetIntake, SheetRow
from pipeline.intake.rules import (
    CellValueError,
    check_filename,
    parse_enabled,
    parse_folder,
    parse_image_choices,
    parse_mode,
    parse_repeat,
    split_image_urls,
)
from pipeline.intake.table import EMPTY, RawCell, Table

_log = logging.getLogger(__name__)

T = TypeVar("T")

_PARAMETER_NAME = re.compile(r"(?:--|[—–])\s?([A-Za-z][\w-]*)")
_NIJI_VALUE = re.compile(r"^(?:--)?\s*niji\s*(\d*)$", re.IGNORECASE)
_FORMULA_SHOWN = 60  # characters of a formula quoted in a message
_FORMULA_FIX = (
    "MidJAu reads the values Excel saved: open the file in Excel and save it, "
    "or paste the column as values."
)


@dataclass(frozen=True, slots=True)
class _Layout:
    """Column positions: canonical name -> index, and the report's header keys."""

    sheet: str
    columns: dict[str, int]
    keys: list[tuple[int, str]]  # (column index, header text) for every labelled column


class _RowCheck:
    """Collect one row's cell texts and problems while it is validated."""

    def __init__(self, layout: _Layout, number: int, cells: Sequence[RawCell]) -> None:
        self.layout = layout
        self.number = number
        self.cells = cells
        self.problems: list[CellProblem] = []

    def cell(self, name: str) -> RawCell:
        """Return a known column's cell, or an empty cell when the sheet lacks the column."""
        index = self.layout.columns.get(name)
        if index is None or index >= len(self.cells):
            return EMPTY
        return self.cells[index]

    def text(self, name: str) -> str:
        """Return a known column's text, rendered according to the column's kind."""
        cell = self.cell(name)
        kind = COLUMNS_BY_NAME[name].kind
        if kind is ColumnKind.RATIO:
            return ratio_text(cell.value, cell.number_format).strip()
        if kind is ColumnKind.NUMBER and isinstance(cell.value, int | float):
            return general_text(cell.value)
        return visible_text(cell.value, cell.number_format).strip()

    def letter(self, name: str) -> str:
        index = self.layout.columns.get(name, self.layout.columns["prompt"])
        return get_column_letter(index + 1)

    def add(self, name: str, message: str, fix: str, *, column: str | None = None) -> None:
        self.problems.append(
            CellProblem(
                sheet=self.layout.sheet,
                row=self.number,
                column=self.letter(column or name),
                field=column or name,
                message=message,
                fix=fix,
            )
        )

    def read(self, name: str, parse: Callable[[str], T], default: T) -> T:
        """Parse a column's text, recording a problem and returning ``default`` on failure."""
        if name not in self.layout.columns:
            return default
        try:
            return parse(self.text(name))
        except CellValueError as error:
            self.add(name, error.message, error.fix)
            return default


def validate_table(table: Table, filename: str, *, settings: IntakeSettings) -> SheetIntake:
    """Turn a table's rows into validated sheet rows with their final prompts."""
    layout = _layout(table)
    intake = SheetIntake(
        filename=filename,
        sheet_name=table.sheet_name,
        headers=[key for _, key in layout.keys],
        notices=list(table.notices),
    )
    for number, cells in table.rows:
        intake.rows.append(_validate_row(_RowCheck(layout, number, cells), settings))

    counts = {status: 0 for status in ("accepted", "skipped", "invalid")}
    for row in intake.rows:
        counts[row.status] += 1
    _log.info(
        "sheet %r of %r: %d rows accepted (%d jobs), %d skipped, %d invalid",
        table.sheet_name,
        filename,
        counts["accepted"],
        intake.job_count,
        counts["skipped"],
        counts["invalid"],
    )
    return intake


def _layout(table: Table) -> _Layout:
    header = table.header
    columns = {name: index for index, name in header.names.items()}
    keys: list[tuple[int, str]] = []
    seen: set[str] = set()
    for index, text in enumerate(header.texts):
        if not text:
            continue
        key = text if text not in seen else f"{text} ({get_column_letter(index + 1)})"
        seen.add(key)
        keys.append((index, key))
    return _Layout(table.sheet_name, columns, keys)


def _validate_row(check: _RowCheck, settings: IntakeSettings) -> SheetRow:
    values = {
        key: (_report_text(check.cells[index]) if index < len(check.cells) else "")
        for index, key in check.layout.keys
    }
    _check_unsaved_formulas(check)
    if not check.read("enabled", parse_enabled, True):
        return SheetRow(number=check.number, values=values, status="skipped", reason="disabled")

    no_choice: tuple[tuple[int, ...], bool] = ((), False)
    upscales, upscales_set = check.read("upscale", _upscale_choices, no_choice)
    variations, _ = check.read("variations", _variation_choices, no_choice)
    repeat = check.read("repeat", parse_repeat, 1)
    filename = check.read("filename", check_filename, "")
    folder = check.read("folder", parse_folder, "")
    mode = check.read("mode", parse_mode, "")
    prompts = _build_prompts(check, settings)

    problems = tuple(check.problems)
    return SheetRow(
        number=check.number,
        values=values,
        status="invalid" if problems else "accepted",
        reason=" ".join(f"{problem.message}. {problem.fix}" for problem in problems),
        prompts=() if problems else tuple(prompts),
        repeat=repeat,
        upscales=upscales,
        upscales_set=upscales_set,
        variations=variations,
        filename=filename,
        folder=folder,
        mode=mode,
        problems=problems,
    )


def _report_text(cell: RawCell) -> str:
    """Return a cell's text for the report; a formula without a saved result as its text."""
    return cell.text or cell.formula


def _check_unsaved_formulas(check: _RowCheck) -> None:
    """Name every used cell that holds a formula the file saved no result for."""
    for name, index in check.layout.columns.items():
        formula = check.cell(name).formula
        if not formula:
            continue
        if len(formula) > _FORMULA_SHOWN:
            formula = formula[: _FORMULA_SHOWN - 1] + "…"
        letter = get_column_letter(index + 1)
        check.add(
            name,
            f"cell {letter}{check.number} holds a formula ({formula}) with no saved result",
            _FORMULA_FIX,
        )


def _upscale_choices(text: str) -> tuple[tuple[int, ...], bool]:
    return parse_image_choices(text, "U")


def _variation_choices(text: str) -> tuple[tuple[int, ...], bool]:
    return parse_image_choices(text, "V")


def _build_prompts(check: _RowCheck, settings: IntakeSettings) -> list[str]:
    """Build and expand the row's prompt; record every grammar problem at its cell."""
    text = check.text("prompt")
    if not text and check.cell("prompt").formula:
        return []  # already named as a formula without a saved result
    if not text:
        check.add(
            "prompt",
            "the prompt is empty",
            "Write a prompt in this cell, or write no in the enabled column to skip the row.",
        )
        return []

    parameters, sources = _column_parameters(check)
    extra = check.text("parameters")
    try:
        prompt = build_prompt(
            text,
            image_urls=split_image_urls(check.text("image_urls")),
            parameters=parameters,
            extra=extra,
            max_length=settings.max_prompt_length,
        )
        return expand_permutations(prompt, cap=settings.permutation_cap)
    except PromptError as error:
        for problem in error.problems:
            column = _column_of(problem, check, sources, extra)
            check.add(problem.field, problem.message, problem.fix, column=column)
        return []


def _column_parameters(check: _RowCheck) -> tuple[dict[str, str], dict[str, str]]:
    """Collect the parameter columns' values and which column gave each parameter."""
    parameters: dict[str, str] = {}
    sources: dict[str, str] = {}
    for name in PARAMETER_COLUMNS:
        if name not in check.layout.columns:
            continue
        value = check.text(name)
        if not value:
            continue
        parameters[name] = value
        sources[name] = name
        if name == "version" and _NIJI_VALUE.match(value):
            # The grammar reads "niji 6" in a version (model) column as --niji 6.
            sources.setdefault("niji", name)
    return parameters, sources


def _column_of(
    problem: PromptProblem, check: _RowCheck, sources: dict[str, str], extra: str
) -> str:
    """Name the column whose cell caused a grammar problem.

    A parameter may sit in its own column, in the parameters column or in the prompt text.
    When it sits in several, the grammar's message names the place it means.
    """
    if problem.field in ("image_urls", "parameters") and problem.field in check.layout.columns:
        return problem.field
    spec = lookup(problem.field)
    canonical = spec.name if spec is not None else problem.field.casefold()

    candidates: dict[str, str] = {}
    if canonical in sources:
        candidates[sources[canonical]] = f"the {sources[canonical]} column"
    if _mentions(extra, canonical):
        candidates["parameters"] = "the parameters column"
    if _mentions(check.text("prompt"), canonical):
        candidates["prompt"] = "the prompt text"
    if not candidates:
        return "prompt"
    for column, description in candidates.items():
        if f"(in {description})" in problem.message:
            return column
    return next(iter(candidates))


def _mentions(text: str, canonical: str) -> bool:
    """Tell whether ``text`` contains ``--name`` for the parameter (any alias, any dash)."""
    for match in _PARAMETER_NAME.finditer(text):
        found = lookup(match[1])
        if (found.name if found is not None else match[1].casefold()) == canonical:
            return True
    return False
