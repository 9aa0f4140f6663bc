"""Find Midjourney's job id (a UUID) in file names, URLs and button custom_ids."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_UUID_PATTERN = re.compile(_UUID, re.IGNORECASE)
# Button custom_ids such as MJ::JOB::upsample::1::<uuid> or MJ::Outpaint::50::1::<uuid>::SOLO.
_CUSTOM_ID_UUID = re.compile(rf"::({_UUID})(?:::|$)", re.IGNORECASE)


def job_uuid_from_url(url: str) -> str | None:
    """Return the job uuid in a Midjourney file name or URL, or None.

    Covers ``<uuid>_grid_0.webp`` previews, ``<user>_<prompt>_<uuid>.png`` grids,
    ``<uuid>_0_0.png`` singles, ``cdn.midjourney.com/<uuid>/0_1.png`` and
    ``midjourney.com/jobs/<uuid>`` links. The query string (Discord's signature) is ignored.
    """
    if not url:
        return None
    try:
        path = urlsplit(url).path if "://" in url else url
    except ValueError:
        path = url
    match = _UUID_PATTERN.search(path)
    return match[0].lower() if match else None


def job_uuid_from_custom_id(custom_id: str) -> str | None:
    """Return the job uuid inside a Midjourney button custom_id, or None."""
    match = _CUSTOM_ID_UUID.search(custom_id)
    return match[1].lower() if match else None


_JOB_LINK = re.compile(rf"midjourney\.com/jobs/({_UUID})", re.IGNORECASE)


def job_uuid_from_text(text: str) -> str | None:
    """Return the job uuid of the first ``midjourney.com/jobs/<uuid>`` link in ``text``."""
    match = _JOB_LINK.search(text)
    return match[1].lower() if match else None
