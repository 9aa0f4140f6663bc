"""Read the MidJAu-specific cells of a row: enabled, upscale, variations, repeat, file names."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_REPEAT = 40
MODES = {"fast": "fast", "relax": "relax", "relaxed": "relax", "turbo": "turbo"}

_FALSE = {"no", "n", "false", "0", "off", "disabled", "skip"}
_TRUE = {"yes", "y", "true", "1", "on", "enabled", "x", "✓", "✔"}
_NONE = {"none", "no", "0", "-", "—"}
_LIST_SPLIT = re.compile(r"[\s,;+/&]+|\band\b", re.IGNORECASE)
_URL_SPLIT = re.compile(r"[\s,;]+")
_DRIVE = re.compile(r"^[a-zA-Z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CellValueError(ValueError):
    """A cell value MidJAu cannot use; ``message`` names the value, ``fix`` the remedy."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix


def parse_enabled(text: str) -> bool:
    """Read the enabled cell; an empty cell means the row runs."""
    folded = text.strip().casefold()
    if not folded or folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise CellValueError(
        f"enabled '{text}' is not yes or no", "Write yes to run the row or no to skip it."
    )


def parse_image_choices(text: str, letter: str) -> tuple[tuple[int, ...], bool]:
    """Read an upscale (letter U) or variations (letter V) cell.

    Return the chosen image numbers 1-4 and whether the cell was filled at all, because
    an empty cell means "the batch default" while "none" means no images.
    """
    folded = text.strip().casefold()
    if not folded:
        return (), False
    if folded in _NONE:
        return (), True
    if folded in ("all", "*", f"{letter.casefold()}1-{letter.casefold()}4", "1-4"):
        return (1, 2, 3, 4), True

    chosen: set[int] = set()
    for token in filter(None, _LIST_SPLIT.split(folded)):
        match = re.fullmatch(rf"{letter.casefold()}?([1-4])", token)
        if match is None:
            example = f"{letter}1, {letter}3"
            raise CellValueError(
                f"'{text}' is not a valid choice of images ('{token}' is not {letter}1 to "
                f"{letter}4)",
                f"Write {letter}1 to {letter}4 (or 1 to 4), several separated by commas "
                f"({example}), all, or none.",
            )
        chosen.add(int(match[1]))
    return tuple(sorted(chosen)), True


def parse_repeat(text: str) -> int:
    """Read the repeat cell: a whole number from 1 to 40, empty meaning 1."""
    stripped = text.strip()
    if not stripped:
        return 1
    fix = f"Write a whole number from 1 to {MAX_REPEAT}, or leave the cell empty for 1."
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        raise CellValueError(f"repeat '{text}' is not a number", fix) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise CellValueError(f"repeat {stripped} is not a whole number", fix)
    if not 1 <= number <= MAX_REPEAT:
        raise CellValueError(f"repeat {stripped} is outside 1 to {MAX_REPEAT}", fix)
    return int(number)


def check_filename(text: str) -> str:
    """Read the filename cell; the packager makes it safe later, but folders go elsewhere."""
    name = text.strip()
    if "/" in name or "\\" in name:
        separator = "/" if "/" in name else "\\"
        raise CellValueError(
            f"filename '{name}' contains '{separator}'",
            f"Remove the '{separator}' from the name and put folders in the folder column.",
        )
    if _CONTROL.search(name):
        raise CellValueError(
            f"filename {name!r} contains a control character such as a line break",
            "Write the name on one line, with letters, digits, spaces, dots or dashes.",
        )
    return name


def parse_folder(text: str) -> str:
    """Read the folder cell into a relative POSIX path such as "clients/acme"."""
    raw = text.strip()
    fix = "Write folder names separated by /, such as clients/acme, with no .. or drive letter."
    if not raw:
        return ""
    if _CONTROL.search(raw):
        raise CellValueError(f"folder {raw!r} contains a control character", fix)
    if _DRIVE.match(raw):
        raise CellValueError(f"folder '{raw}' starts with a drive letter", fix)
    if raw.startswith(("/", "\\")):
        raise CellValueError(f"folder '{raw}' is an absolute path", fix)

    segments = [segment.strip() for segment in re.split(r"[\\/]+", raw)]
    if ".." in segments:
        raise CellValueError(f"folder '{raw}' contains '..'", fix)
    names = [segment for segment in segments if segment and segment != "."]
    return "/".join(names)


def parse_mode(text: str) -> str:
    """Read the mode cell: fast, relax or turbo; empty means the batch default."""
    folded = text.strip().casefold()
    if not folded:
        return ""
    mode = MODES.get(folded)
    if mode is None:
        raise CellValueError(
            f"mode '{text}' is not fast, relax or turbo",
            "Write fast, relax or turbo, or leave the cell empty for the batch default.",
        )
    return mode


def split_image_urls(text: str) -> list[str]:
    """Split the image_urls cell on whitespace, commas, semicolons and line breaks."""
    return [url for url in _URL_SPLIT.split(text) if url]
