"""Headers for files the site hands out: their real content type, saved as attachments."""

from __future__ import annotations

import mimetypes
from pathlib import Path

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Python's own table may lack the Office types when the system has no mime.types file.
_KNOWN = {".xlsx": XLSX, ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12"}


def content_type_of(path: Path) -> str:
    """Return the content type of ``path`` by its extension, octet-stream when unknown."""
    known = _KNOWN.get(path.suffix.lower())
    if known is not None:
        return known
    guessed, _ = mimetypes.guess_type(path.name, strict=False)
    return guessed or "application/octet-stream"


def attachment_headers(path: Path) -> dict[str, str]:
    """Return the headers that make a browser save ``path`` under its name and type."""
    return {
        "Content-Disposition": f'attachment; filename="{path.name}"',
        "Content-Type": content_type_of(path),
    }
