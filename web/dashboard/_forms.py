"""The upload form's choices and how a submitted form becomes batch options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

from aiohttp.web_request import FileField
from multidict import MultiDictProxy

from pipeline.progress import BatchOptions

SHEET_SUFFIXES = (".xlsx", ".xlsm", ".csv")
MIB = 1024 * 1024

# The same choices as the bot's ``/batch run``: upscales for rows whose own cell is empty.
UPSCALE_CHOICES: dict[str, tuple[int, ...]] = {
    "none": (),
    "U1": (1,),
    "U2": (2,),
    "U3": (3,),
    "U4": (4,),
    "all": (1, 2, 3, 4),
}
MODE_CHOICES = ("fast", "relax", "turbo")


class UploadFormError(Exception):
    """A field of the upload form is missing or invalid; ``str(error)`` is safe to show."""


@dataclass(frozen=True, slots=True)
class UploadChoices:
    """The user's choices in the upload form, read before the sheet is."""

    upscale: str = "none"
    split_grids: bool = False
    mode: str = "fast"
    connection_id: int | None = None

    def options(self) -> BatchOptions:
        """Return the batch options these choices make."""
        return BatchOptions(
            default_upscales=UPSCALE_CHOICES[self.upscale],
            split_grids=self.split_grids,
            mode=self.mode,
        )


def read_choices(form: MultiDictProxy[str | bytes | bytearray | FileField]) -> UploadChoices:
    """Read the choices of a submitted upload form; raise UploadFormError for a bad value."""
    upscale = str(form.get("upscale") or "none")
    if upscale not in UPSCALE_CHOICES:
        raise UploadFormError(
            f"Upscale '{upscale}' is not a choice. Choose none, U1, U2, U3, U4 or all."
        )
    mode = str(form.get("mode") or "fast")
    if mode not in MODE_CHOICES:
        raise UploadFormError(f"Mode '{mode}' is not a choice. Choose fast, relax or turbo.")
    raw_connection = str(form.get("connection_id") or "")
    if not raw_connection.isdigit():
        raise UploadFormError("Choose the Discord connection to run the batch on.")
    return UploadChoices(
        upscale=upscale,
        split_grids=form.get("split_grids") == "on",
        mode=mode,
        connection_id=int(raw_connection),
    )


def check_sheet_file(filename: str, size: int, max_bytes: int) -> None:
    """Reject a file that is not a sheet MidJAu reads, or one over the size limit."""
    if not filename:
        raise UploadFormError("Choose a sheet to upload: an .xlsx, .xlsm or .csv file.")
    if PurePath(filename).suffix.lower() not in SHEET_SUFFIXES:
        raise UploadFormError(
            f"{filename} is not a sheet MidJAu reads. Upload an .xlsx, .xlsm or .csv file."
        )
    if size == 0:
        raise UploadFormError(f"{filename} is empty. Add a header row and one prompt per row.")
    if size > max_bytes:
        raise UploadFormError(
            f"{filename} is {size / MIB:.1f} MiB; the limit is {max_bytes / MIB:.1f} MiB. "
            "Remove unused sheets, images or formatting, or split the rows over several files."
        )
