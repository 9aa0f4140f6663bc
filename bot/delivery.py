"""Post a finished batch's ZIP part(s) and report in its Discord channel."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import discord

from bot.text import plural
from pipeline.downloads import sign_download
from pipeline.durations import format_duration
from pipeline.progress import BatchResult, BatchSummary

log = logging.getLogger(__name__)

# Discord accepts at most this many files on one message.
FILES_PER_MESSAGE = 10


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    """Files to attach, one list per message, and download links for the rest."""

    uploads: list[list[Path]]
    links: list[tuple[str, str]]  # (file name, URL)


def summary_line(batch_id: int, status: str, summary: BatchSummary) -> str:
    """Say in one line how a batch ended: rows by outcome, images, time taken."""
    parts = [f"{summary.rows_done} of {summary.rows_total} rows done"]
    if summary.rows_failed:
        parts.append(f"{summary.rows_failed} failed")
    if summary.rows_skipped:
        parts.append(f"{summary.rows_skipped} skipped")
    if summary.rows_cancelled:
        parts.append(f"{summary.rows_cancelled} cancelled")
    parts.append(plural(summary.images, "image"))
    parts.append(format_duration(summary.elapsed_seconds))
    verb = {"done": "finished", "cancelled": "was cancelled", "failed": "failed"}.get(
        status, status
    )
    return f"**Batch {batch_id} {verb}:** " + " · ".join(parts)


def download_link(
    public_url: str,
    secret: bytes,
    batch_id: int,
    path: Path,
    *,
    batch_created_at: datetime,
    ttl_seconds: int,
) -> str:
    """Return the signed web address from which ``path`` of ``batch_id`` can be downloaded."""
    token = sign_download(
        secret, batch_id, path.name, batch_created_at=batch_created_at, ttl_seconds=ttl_seconds
    )
    return f"{public_url.rstrip('/')}/downloads/{token}"


def plan_delivery(
    files: Sequence[Path],
    *,
    batch_id: int,
    batch_created_at: datetime | None,
    upload_limit: int,
    public_url: str | None,
    secret: bytes | None,
    ttl_seconds: int,
) -> DeliveryPlan:
    """Decide which files go as attachments and which as download links.

    Files that fit the upload limit are attached, packed into as few messages as the
    limit allows (it applies to a message's files together). A file over the limit is
    linked when a public web address and a secret are configured and the batch's creation
    time, which the link is bound to, is known. Otherwise it is still
    attached, and if Discord rejects the upload, the rejection is posted in its place.
    """
    uploads: list[list[Path]] = []
    links: list[tuple[str, str]] = []
    current: list[Path] = []
    current_size = 0
    for path in files:
        size = path.stat().st_size
        if size > upload_limit and public_url and secret and batch_created_at:
            url = download_link(
                public_url,
                secret,
                batch_id,
                path,
                batch_created_at=batch_created_at,
                ttl_seconds=ttl_seconds,
            )
            links.append((path.name, url))
            continue
        if current and (current_size + size > upload_limit or len(current) >= FILES_PER_MESSAGE):
            uploads.append(current)
            current, current_size = [], 0
        current.append(path)
        current_size += size
    if current:
        uploads.append(current)
    return DeliveryPlan(uploads=uploads, links=links)


async def deliver_result(
    channel: discord.abc.Messageable,
    result: BatchResult,
    *,
    upload_limit: int,
    public_url: str | None,
    secret: bytes | None,
    ttl_seconds: int,
) -> list[discord.Message]:
    """Post the summary line, the report and the ZIP part(s) of a finished batch."""
    candidates = [*([result.report_path] if result.report_path else []), *result.zip_paths]
    files = await asyncio.to_thread(_existing_files, candidates)
    plan = await asyncio.to_thread(
        plan_delivery,
        files,
        batch_id=result.batch_id,
        batch_created_at=result.created_at,
        upload_limit=upload_limit,
        public_url=public_url,
        secret=secret,
        ttl_seconds=ttl_seconds,
    )

    header = summary_line(result.batch_id, result.status, result.summary)
    if not files:
        header += "\nNo output files were made."
    if plan.links:
        days = max(1, round(ttl_seconds / 86400))
        lines = [f"- [{name}](<{url}>)" for name, url in plan.links]
        header += f"\nToo big for Discord, download (links work for {days} days):\n" + "\n".join(
            lines
        )

    posted: list[discord.Message] = []
    first_group = plan.uploads[0] if plan.uploads else []
    posted.append(await _post(channel, header, first_group, result.batch_id))
    for index, group in enumerate(plan.uploads[1:], start=2):
        note = f"Batch {result.batch_id}, files part {index} of {len(plan.uploads)}"
        posted.append(await _post(channel, note, group, result.batch_id))
    return posted


def _existing_files(paths: Sequence[Path]) -> list[Path]:
    return [path for path in paths if path.is_file()]


async def _post(
    channel: discord.abc.Messageable, content: str, paths: list[Path], batch_id: int
) -> discord.Message:
    # Read in a thread: discord.File would otherwise read the file on the event loop.
    contents = [await asyncio.to_thread(path.read_bytes) for path in paths]
    files = [
        discord.File(io.BytesIO(data), filename=path.name)
        for path, data in zip(paths, contents, strict=True)
    ]
    try:
        return await channel.send(content, files=files)
    except discord.HTTPException as error:
        log.warning(
            "batch %s: Discord rejected the upload of %s: %s",
            batch_id,
            ", ".join(path.name for path in paths),
            error,
        )
        names = ", ".join(f"`{path.name}`" for path in paths)
        return await channel.send(
            f"{content}\nDiscord did not accept {names} ({error.status}). "
            "Ask the operator to set a public web address so big files go as links."
        )
    finally:
        for file in files:
            file.close()
