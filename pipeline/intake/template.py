"""Write the template workbook: a "Prompts" tab to fill in and a "Columns" tab explaining it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from pipeline.intake.columns import COLUMNS, COLUMNS_BY_NAME, ColumnKind

PROMPTS_SHEET = "Prompts"
COLUMNS_SHEET = "Columns"

# The columns most sheets need; the "Columns" tab lists the rest.
TEMPLATE_COLUMNS = (
    "prompt",
    "image_urls",
    "parameters",
    "aspect_ratio",
    "version",
    "stylize",
    "chaos",
    "seed",
    "no",
    "upscale",
    "variations",
    "repeat",
    "filename",
    "folder",
    "mode",
    "enabled",
)

TEMPLATE_ROWS: tuple[dict[str, object], ...] = (
    {
        "prompt": "a lighthouse on a cliff at dawn, watercolor",
        "aspect_ratio": "16:9",
        "stylize": 250,
        "upscale": "U1, U3",
        "filename": "lighthouse-dawn",
        "folder": "landscapes",
        "enabled": "yes",
    },
    {
        "prompt": "product photo of a {red, blue} ceramic mug on an oak table",
        "parameters": "--style raw",
        "aspect_ratio": "1:1",
        "upscale": "all",
        "folder": "products/mugs",
        "enabled": "yes",
    },
    {
        "prompt": "a red fox in fresh snow, soft morning light",
        "image_urls": "https://example.com/reference/fox.png",
        "version": 7,
        "chaos": 20,
        "no": "text, watermark",
        "repeat": 2,
        "filename": "fox",
        "enabled": "yes",
    },
    {
        "prompt": "isometric reading nook with plants, pastel colors",
        "seed": 1234567890,
        "variations": "V2",
        "mode": "relax",
        "enabled": "no",
    },
)

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", start_color="1F4E78")
_WIDTHS = {"prompt": 60, "image_urls": 40, "parameters": 28, "no": 20, "folder": 18}
# Rows that get the text format, so Excel keeps a typed 16:9 or 007 as text.
_FORMATTED_ROWS = 500


def write_template(path: Path) -> None:
    """Write the template workbook to ``path``; it blocks, so run it in a thread from async code."""
    workbook = Workbook()
    prompts = workbook.active
    assert prompts is not None  # a new Workbook always has one sheet
    fill_prompt_sheet(prompts, TEMPLATE_COLUMNS, TEMPLATE_ROWS)
    _fill_columns_sheet(workbook.create_sheet(COLUMNS_SHEET))
    workbook.save(path)


def fill_prompt_sheet(
    sheet: Worksheet, headers: Sequence[str], rows: Sequence[Mapping[str, object]]
) -> None:
    """Fill a sheet with a styled header row and the given rows (header name -> value)."""
    sheet.title = PROMPTS_SHEET
    sheet.append(list(headers))
    for row in rows:
        sheet.append([row.get(header) for header in headers])

    _style_header(sheet, len(headers))
    for index, header in enumerate(headers, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = _WIDTHS.get(header, max(12, len(header) + 4))
        column = COLUMNS_BY_NAME.get(header)
        if column is not None and column.kind is not ColumnKind.NUMBER:
            for (cell,) in sheet.iter_rows(
                min_row=2, max_row=_FORMATTED_ROWS, min_col=index, max_col=index
            ):
                cell.number_format = "@"
        if header in ("prompt", "image_urls", "parameters"):
            for (cell,) in sheet.iter_rows(
                min_row=2, max_row=len(rows) + 1, min_col=index, max_col=index
            ):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    _add_choice_lists(sheet, headers)


def _style_header(sheet: Worksheet, width: int) -> None:
    for cell in sheet[1][:width]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(vertical="center")
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(width)}1"


def _add_choice_lists(sheet: Worksheet, headers: Sequence[str]) -> None:
    """Offer drop-down lists where a column has a short fixed set of values."""
    choices = {"mode": "fast,relax,turbo", "enabled": "yes,no"}
    for index, header in enumerate(headers, start=1):
        if header not in choices:
            continue
        letter = get_column_letter(index)
        validation = DataValidation(
            type="list", formula1=f'"{choices[header]}"', allow_blank=True, showErrorMessage=False
        )
        validation.add(f"{letter}2:{letter}{_FORMATTED_ROWS}")
        sheet.add_data_validation(validation)


def _fill_columns_sheet(sheet: Worksheet) -> None:
    headers = ("Column", "Also accepted", "What it does", "Allowed values", "Example")
    sheet.append(list(headers))
    for column in COLUMNS:
        required = " Required." if column.name == "prompt" else ""
        sheet.append(
            [
                column.name,
                ", ".join(column.aliases),
                column.description + required,
                column.allowed,
                column.example,
            ]
        )
    sheet.append([])
    sheet.append(
        [
            "Notes",
            "",
            "Headers may use any case, spaces or underscores (Aspect Ratio = aspect_ratio). "
            "Columns not listed here are copied to the report unchanged. The header may sit "
            "below a title, within the first 10 rows.",
        ]
    )

    _style_header(sheet, len(headers))
    sheet.freeze_panes = "A2"
    for letter, width in zip("ABCDE", (16, 28, 60, 48, 32), strict=True):
        sheet.column_dimensions[letter].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
