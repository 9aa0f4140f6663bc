"""ZIP parts of a batch: planned under a size limit, then streamed to disk.

Images are already compressed, so every entry is stored (``ZIP_STORED``): deflating them
would cost CPU and gain almost nothing. ``ZipFile.write`` copies each file in chunks, so
memory stays flat however large the batch is. When everything does not fit in one file
of at most ``limit`` bytes, the images are split over parts that each carry the report,
so every part can be used on its own.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from storage.blobs import open_atomic

log = logging.getLogger(__name__)

# Local header (30) + central directory entry (46) + the name twice + room for a ZIP64
# extra field. Sizes are estimated high, so a part never ends up over its limit.
_ENTRY_OVERHEAD = 30 + 46 + 2 * 32
_END_OVERHEAD = 22 + 56 + 20  # end of central directory, with its ZIP64 variants


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """A file to put in the ZIP under ``name``."""

    name: str
    path: Path
    size: int

    @property
    def cost(self) -> int:
        """Bytes this file adds to a ZIP, estimated from above."""
        return self.size + _ENTRY_OVERHEAD + 2 * len(self.name.encode("utf-8"))


@dataclass(slots=True)
class PartPlan:
    """The files of every ZIP part, and notices for the user about the split."""

    parts: list[list[ArchiveFile]]
    notices: list[str] = field(default_factory=list)


def plan_parts(images: Sequence[ArchiveFile], report: ArchiveFile, limit: int) -> PartPlan:
    """Split the report and images into parts of at most ``limit`` bytes each.

    An image too big to share a part with the report gets a part of its own (over the
    limit when the image alone is) and a notice.
    """
    total = report.cost + sum(image.cost for image in images) + _END_OVERHEAD
    if total <= limit:
        return PartPlan(parts=[[report, *images]])

    plan = PartPlan(parts=[])
    header: list[ArchiveFile] = [report]
    if report.cost + _END_OVERHEAD > limit:
        header = []
        plan.notices.append(
            f"The report ({report.size} bytes) is larger than the ZIP part limit "
            f"({limit} bytes), so it is delivered only as a separate file."
        )
    base = sum(file.cost for file in header) + _END_OVERHEAD

    current: list[ArchiveFile] = []
    used = base
    for image in images:
        if base + image.cost > limit:
            plan.parts.append([image])
            plan.notices.append(_alone_notice(image, len(plan.parts), limit))
            continue
        if used + image.cost > limit:
            plan.parts.append([*header, *current])
            current, used = [], base
        current.append(image)
        used += image.cost
    # The last part; or, when every image went alone, a part holding only the report.
    if current or (header and not any(report in part for part in plan.parts)):
        plan.parts.append([*header, *current])
    return plan


def _alone_notice(image: ArchiveFile, part_number: int, limit: int) -> str:
    if image.cost + _END_OVERHEAD > limit:
        return (
            f"{image.name} ({image.size} bytes) is larger than the ZIP part limit "
            f"({limit} bytes); part {part_number} holds it alone and is over the limit."
        )
    return (
        f"{image.name} ({image.size} bytes) does not fit beside the report within the ZIP "
        f"part limit ({limit} bytes); part {part_number} holds it alone, without the report."
    )


def write_zip(path: Path, files: Sequence[ArchiveFile]) -> None:
    """Write ``files`` into a new ZIP at ``path``, replacing any earlier file atomically."""
    with (
        open_atomic(path) as handle,
        zipfile.ZipFile(
            handle, "w", compression=zipfile.ZIP_STORED, allowZip64=True, strict_timestamps=False
        ) as archive,
    ):
        for file in files:
            archive.write(file.path, arcname=file.name)
    log.info("wrote %s (%d files)", path, len(files))
