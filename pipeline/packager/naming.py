"""File names of result images inside the output ZIP.

Scheme, for an image of sheet row 7 whose prompt starts "Misty valley at dawn", in the
row's folder ``landscapes``::

    landscapes/007-misty-valley-at-dawn_grid.png     the grid Midjourney returned
    landscapes/007-misty-valley-at-dawn_2.png        quadrant 2, cut from the grid by us
    landscapes/007-misty-valley-at-dawn_U2.png       Midjourney's upscale U2
    landscapes/007-misty-valley-at-dawn_V3.png       the grid of variation V3
    landscapes/007-misty-valley-at-dawn_p2_r3_U1.png permutation 2, repeat 3, upscale U1

- ``007`` is the sheet row number, zero-padded to at least three digits so names sort in
  sheet order.
- The stem is the row's ``filename`` cell when set, without an image extension. Otherwise
  it is an ASCII slug of the prompt text without URLs and parameters, cut at a word
  boundary to at most 60 characters.
- ``_pN`` and ``_rN`` (1-based) appear only when the row has several permutations or
  repeats, and then on every one of its files, the first included.
- The extension comes from the stored blob (``.png``, ``.jpg``, ``.webp``, ``.gif``).
- A name that is already taken, compared case-insensitively because Windows and macOS
  file systems ignore case, gets ``~2``, ``~3``, ... before its extension.

Every path segment is safe on Windows and inside a ZIP: no ``<>:"/\\|?*`` or control
characters, no trailing dot or space, no reserved device name (``CON``, ``NUL``,
``COM1``, ...), never ``.`` or ``..``, and the whole name stays under 255 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from storage.models import ImageKind

MAX_STEM_LENGTH = 60
MAX_FOLDER_SEGMENT_LENGTH = 50
MAX_FOLDER_DEPTH = 3
# The database column holding the name is VARCHAR(255).
MAX_ARCHIVE_NAME_LENGTH = 250
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
DEFAULT_EXTENSION = ".png"

WINDOWS_RESERVED_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{device}{number}" for device in ("COM", "LPT") for number in "123456789¹²³"}
)
_UNSAFE_CHARACTERS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f-\x9f]')
_URL = re.compile(r"<?https?://\S+>?", re.IGNORECASE)
# A parameter starts at "--name" (or an em/en dash before a name); the text ends there.
_PARAMETER = re.compile(r"(?:^|\s)(?:--|[\u2013\u2014])[A-Za-z]")
_KIND_ORDER = {
    ImageKind.GRID: 0,
    ImageKind.QUADRANT: 1,
    ImageKind.UPSCALE: 2,
    ImageKind.VARIATION: 3,
}


@dataclass(frozen=True, slots=True)
class ImageRef:
    """The facts an image's name is built from: its row, its job's place in the row, its kind."""

    image_id: int
    row_number: int
    filename: str  # the row's filename cell, may be empty
    folder: str  # the row's folder cell, may be empty
    prompt: str  # the prompt of the row's first job, for the slug
    permutation: int  # 1-based; 0 when the row has a single permutation
    repeat: int  # 1-based; 0 when the row is not repeated
    kind: ImageKind
    index: int
    blob_key: str


def clean_text(text: str, *, max_length: int) -> str:
    """Return ``text`` without characters that Windows or a ZIP cannot hold in a name."""
    text = unicodedata.normalize("NFC", text)
    text = _UNSAFE_CHARACTERS.sub("-", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"-{2,}", "-", text)
    # Leading dots hide files on Unix; Windows drops trailing dots and spaces, so "a." and
    # "a" would be the same file there.
    return text.strip(" .-")[:max_length].rstrip(" .-")


def safe_segment(text: str, *, max_length: int) -> str:
    """Return ``text`` as a path segment safe on Windows and in a ZIP ('' if nothing is left)."""
    text = clean_text(text, max_length=max_length)
    device = text.split(".", 1)[0].rstrip(" ").upper()
    if device in WINDOWS_RESERVED_NAMES:
        text = f"_{text}"
    return text


def safe_folder(folder: str) -> list[str]:
    """Return the safe segments of a folder cell; ``/`` and ``\\`` both separate segments."""
    segments = []
    for raw in re.split(r"[/\\]", folder):
        segment = safe_segment(raw, max_length=MAX_FOLDER_SEGMENT_LENGTH)
        if segment:
            segments.append(segment)
    return segments[:MAX_FOLDER_DEPTH]


def slugify(prompt: str, *, max_length: int = MAX_STEM_LENGTH) -> str:
    """Return an ASCII slug of the prompt's text, without image URLs and parameters."""
    text = _URL.sub(" ", prompt)
    match = _PARAMETER.search(text)
    if match:
        text = text[: match.start()]
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    if len(slug) > max_length:
        slug = slug[:max_length]
        if "-" in slug:
            slug = slug.rsplit("-", 1)[0]
    return slug or "image"


def file_stem(filename: str, prompt: str) -> str:
    """Return the stem from the filename cell, or the prompt's slug when the cell gives none."""
    name = filename.strip()
    suffix = PurePosixPath(name).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        name = name[: -len(suffix)]
    # The row number comes first in a file name, so the stem needs no device-name check.
    return clean_text(name, max_length=MAX_STEM_LENGTH) or slugify(prompt)


def image_suffix(ref: ImageRef) -> str:
    """Return the name suffix that distinguishes the images of one row."""
    parts = []
    if ref.permutation:
        parts.append(f"_p{ref.permutation}")
    if ref.repeat:
        parts.append(f"_r{ref.repeat}")
    match ref.kind:
        case ImageKind.GRID:
            parts.append("_grid")
        case ImageKind.QUADRANT:
            parts.append(f"_{ref.index}")
        case ImageKind.UPSCALE:
            parts.append(f"_U{ref.index}")
        case ImageKind.VARIATION:
            parts.append(f"_V{ref.index}")
    return "".join(parts)


def blob_extension(blob_key: str) -> str:
    """Return the image extension of a blob key, or ``.png`` when it has none we know."""
    suffix = PurePosixPath(blob_key).suffix.lower()
    return suffix if suffix in IMAGE_EXTENSIONS else DEFAULT_EXTENSION


def check_archive_name(name: str) -> str:
    """Return ``name`` if it is a safe relative ZIP entry name; raise ``ValueError`` otherwise."""
    segments = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or any(segment in ("", ".", "..") for segment in segments)
        or any(_UNSAFE_CHARACTERS.search(segment) for segment in segments)
        or len(name) > MAX_ARCHIVE_NAME_LENGTH
    ):
        raise ValueError(f"unsafe archive name {name!r}")
    return name


def assign_archive_names(
    refs: Sequence[ImageRef], *, reserved: Iterable[str] = ()
) -> dict[int, str]:
    """Return a unique, safe archive name for every image, keyed by image id.

    ``reserved`` contains names already in the archive, such as the report.
    """
    width = max(3, *(len(str(ref.row_number)) for ref in refs)) if refs else 3
    folders = {ref.image_id: safe_folder(ref.folder) for ref in refs}
    taken_names = {name.casefold() for name in reserved}
    # A file may not take the name of a folder, or the ZIP could not be extracted.
    for segments in folders.values():
        for depth in range(1, len(segments) + 1):
            taken_names.add("/".join(segments[:depth]).casefold())

    names: dict[int, str] = {}
    for ref in sorted(refs, key=_naming_order):
        folder = "/".join(folders[ref.image_id])
        base = f"{ref.row_number:0{width}d}-{file_stem(ref.filename, ref.prompt)}"
        name = _claim(taken_names, folder, base, image_suffix(ref), blob_extension(ref.blob_key))
        names[ref.image_id] = check_archive_name(name)
    return names


def _naming_order(ref: ImageRef) -> tuple[int, int, int, int, int, int]:
    return (
        ref.row_number,
        ref.permutation,
        ref.repeat,
        _KIND_ORDER[ref.kind],
        ref.index,
        ref.image_id,
    )


def _claim(taken_names: set[str], folder: str, base: str, suffix: str, extension: str) -> str:
    prefix = f"{folder}/" if folder else ""
    # Shorten the stem when the whole name would be too long for the database column.
    room = MAX_ARCHIVE_NAME_LENGTH - len(prefix) - len(suffix) - len(extension) - 6
    base = base[: max(room, 8)].rstrip(" .-")

    candidate = f"{prefix}{base}{suffix}{extension}"
    copy = 1
    while candidate.casefold() in taken_names:
        copy += 1
        candidate = f"{prefix}{base}{suffix}~{copy}{extension}"
    taken_names.add(candidate.casefold())
    return candidate
