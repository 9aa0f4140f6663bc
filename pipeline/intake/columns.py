"""The columns a prompt sheet may have: canonical names, accepted header spellings, help text.

One table serves header detection, validation and the template's "Columns" tab, so the
three never disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ColumnKind(StrEnum):
    """The rendering a column's cells get when they become text."""

    TEXT = "text"  # the text the sheet shows, number format applied
    NUMBER = "number"  # the plain number, whatever format the cell has
    RATIO = "ratio"  # a ratio like 16:9, which Excel may have turned into a time


@dataclass(frozen=True, slots=True)
class Column:
    """One column MidJAu understands."""

    name: str
    aliases: tuple[str, ...]
    kind: ColumnKind
    description: str
    allowed: str
    example: str
    # True for the columns whose cell becomes a Midjourney parameter of the same name.
    is_parameter: bool = False


COLUMNS: tuple[Column, ...] = (
    Column(
        "prompt",
        ("text", "prompt text"),
        ColumnKind.TEXT,
        "The prompt text. It may end with parameters such as --ar 16:9 and may hold "
        "permutations like {red, blue}, which make one job per option.",
        "Any text; required on every row that should run.",
        "a lighthouse at dawn, watercolor",
    ),
    Column(
        "image_urls",
        ("image url", "image urls", "images", "image", "image prompt", "image prompts"),
        ColumnKind.TEXT,
        "Image prompts placed before the text.",
        "Public https:// image links, separated by spaces, commas, semicolons or new lines.",
        "https://example.com/reference.png",
    ),
    Column(
        "parameters",
        ("params", "extra parameters", "extra params", "options"),
        ColumnKind.TEXT,
        "Any Midjourney parameters, written as in Discord.",
        "Parameters such as --ar 3:2 --style raw.",
        "--style raw --chaos 10",
    ),
    Column(
        "aspect_ratio",
        ("ar", "aspect", "aspect ratio", "ratio"),
        ColumnKind.RATIO,
        "The image's width:height (--ar).",
        "Two whole numbers with a colon, such as 16:9.",
        "16:9",
        is_parameter=True,
    ),
    Column(
        "version",
        ("v", "model", "model version"),
        ColumnKind.NUMBER,
        "The Midjourney model version (--v). Write 'niji 6' to use the Niji model.",
        "A version number such as 7, or niji and a number.",
        "7",
        is_parameter=True,
    ),
    Column(
        "niji",
        (),
        ColumnKind.NUMBER,
        "The Niji (anime) model version (--niji).",
        "A Niji version such as 6.",
        "6",
        is_parameter=True,
    ),
    Column(
        "stylize",
        ("s", "stylise"),
        ColumnKind.NUMBER,
        "How strongly Midjourney's own style applies (--stylize).",
        "A whole number from 0 to 1000.",
        "250",
        is_parameter=True,
    ),
    Column(
        "chaos",
        ("c",),
        ColumnKind.NUMBER,
        "How different the four images of a grid are (--chaos).",
        "A whole number from 0 to 100.",
        "20",
        is_parameter=True,
    ),
    Column(
        "quality",
        ("q",),
        ColumnKind.NUMBER,
        "Rendering quality (--quality); the allowed values depend on the version.",
        "For example 1 or 2.",
        "1",
        is_parameter=True,
    ),
    Column(
        "seed",
        (),
        ColumnKind.NUMBER,
        "The starting noise (--seed); the same seed and prompt give similar images.",
        "A whole number from 0 to 4294967295.",
        "1234567890",
        is_parameter=True,
    ),
    Column(
        "style",
        (),
        ColumnKind.TEXT,
        "A style variant (--style).",
        "For example raw.",
        "raw",
        is_parameter=True,
    ),
    Column(
        "no",
        ("negative", "negative prompt", "exclude"),
        ColumnKind.TEXT,
        "What to leave out of the image (--no).",
        "Words separated by commas.",
        "text, watermark",
        is_parameter=True,
    ),
    Column(
        "weird",
        ("w",),
        ColumnKind.NUMBER,
        "How unusual the images are (--weird).",
        "A whole number from 0 to 3000.",
        "250",
        is_parameter=True,
    ),
    Column(
        "tile",
        (),
        ColumnKind.TEXT,
        "Make images that repeat seamlessly as tiles (--tile).",
        "yes or no; empty means no.",
        "yes",
        is_parameter=True,
    ),
    Column(
        "sref",
        ("style reference", "style ref", "srefs"),
        ColumnKind.TEXT,
        "Style reference images or a style code (--sref).",
        "Image links or a style code, separated by spaces.",
        "https://example.com/style.png",
        is_parameter=True,
    ),
    Column(
        "upscale",
        ("upscales", "u"),
        ColumnKind.TEXT,
        "Which images of the grid to upscale. Empty means the batch default.",
        "none, U1 to U4 (or 1 to 4), several separated by commas (U1, U3), or all.",
        "U1, U3",
    ),
    Column(
        "variations",
        ("variation", "vary"),
        ColumnKind.TEXT,
        "Which images of the grid to make variations of.",
        "none, V1 to V4 (or 1 to 4), several separated by commas (V2, V4), or all.",
        "V2",
    ),
    Column(
        "repeat",
        ("repeats", "count", "times"),
        ColumnKind.NUMBER,
        "How many times to run the row; each run is a separate job.",
        "A whole number from 1 to 40; empty means 1.",
        "2",
    ),
    Column(
        "filename",
        ("file name", "name", "output name"),
        ColumnKind.TEXT,
        "The name for this row's images in the ZIP; the row number is added in front.",
        "A name without / or \\; empty means a name made from the prompt.",
        "lighthouse-dawn",
    ),
    Column(
        "folder",
        ("subfolder", "directory", "dir", "output folder"),
        ColumnKind.TEXT,
        "The folder inside the ZIP for this row's images.",
        "One or more folder names separated by /, without .. or a drive letter.",
        "clients/acme",
    ),
    Column(
        "mode",
        ("speed",),
        ColumnKind.TEXT,
        "The GPU speed for this row. Empty means the batch default.",
        "fast, relax or turbo.",
        "relax",
    ),
    Column(
        "enabled",
        ("enable", "active", "run"),
        ColumnKind.TEXT,
        "Whether the row runs. A disabled row is listed in the report as skipped.",
        "yes or no (also true/false, 1/0, y/n); empty means yes.",
        "yes",
    ),
)

COLUMNS_BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}
PARAMETER_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.is_parameter)


def normalise_header(text: str) -> str:
    """Fold a header for matching: casefold and drop spaces, underscores, dashes and signs."""
    return re.sub(r"[\W_]+", "", text.casefold())


_NAME_BY_HEADER: dict[str, str] = {
    normalise_header(spelling): column.name
    for column in COLUMNS
    for spelling in (column.name, *column.aliases)
}


def canonical_name(header: str) -> str | None:
    """Return the canonical column name a header stands for, or None for an unknown header."""
    key = normalise_header(header)
    if not key:
        return None
    return _NAME_BY_HEADER.get(key)


def accepted_names() -> str:
    """Return every accepted header, for error messages: "prompt (text, prompt text), …"."""
    parts = []
    for column in COLUMNS:
        if column.aliases:
            parts.append(f"{column.name} ({', '.join(column.aliases)})")
        else:
            parts.append(column.name)
    return "; ".join(parts)
