"""Message bodies as clients send them: validation, uploaded files and attachment lists."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.discord.cdn import StoredAttachment
from sandbox.discord.errors import DiscordHTTPError, form_error

if TYPE_CHECKING:
    from sandbox.discord.state import SandboxDiscord

MAX_CONTENT_LENGTH = 2000
MAX_EMBEDS = 10
# Flags a sender may set on a new message: suppress embeds, ephemeral, suppress notifications.
SETTABLE_FLAGS = (1 << 2) | (1 << 6) | (1 << 12)


@dataclass(frozen=True, slots=True)
class Upload:
    """A file part of a multipart request (``files[n]``)."""

    index: int
    filename: str
    data: bytes


def validate_message_body(body: Mapping[str, Any], *, file_count: int, editing: bool) -> None:
    """Reject what Discord rejects: long content, too many embeds, an empty new message."""
    content = body.get("content")
    if content is not None and not isinstance(content, str):
        raise form_error("content", "BASE_TYPE_STRING", "Could not interpret value as string.")
    if content is not None and len(content) > MAX_CONTENT_LENGTH:
        raise form_error(
            "content", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CONTENT_LENGTH} or fewer in length."
        )
    embeds = body.get("embeds") or []
    if not isinstance(embeds, list) or len(embeds) > MAX_EMBEDS:
        raise form_error(
            "embeds", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_EMBEDS} or fewer in length."
        )
    if editing:
        return
    if not (content or embeds or file_count or body.get("components") or body.get("sticker_ids")):
        raise DiscordHTTPError(400, 50006, "Cannot send an empty message")


def resolve_attachments(
    discord: SandboxDiscord,
    channel_id: str,
    listed: Sequence[Mapping[str, Any]] | None,
    uploads: Sequence[Upload],
    *,
    existing: Sequence[StoredAttachment] = (),
) -> list[StoredAttachment]:
    """Turn a body's ``attachments`` list plus its file parts into stored attachments.

    Entries whose ``id`` names an existing attachment keep it; an ``uploaded_filename``
    takes a cloud upload; any other ``id`` is the index of a ``files[n]`` part. File parts
    the list does not mention are attached as well, as Discord does.
    """
    limit = discord.settings.upload_limit_bytes
    for upload in uploads:
        if len(upload.data) > limit:
            raise DiscordHTTPError(413, 40005, "Request entity too large")
    by_index: dict[int, Upload] = {upload.index: upload for upload in uploads}
    kept = {attachment.id: attachment for attachment in existing}
    result: list[StoredAttachment] = []

    for position, entry in enumerate(listed or []):
        entry_id = str(entry.get("id", ""))
        if entry_id in kept:
            result.append(kept[entry_id])
            continue
        uploaded_filename = entry.get("uploaded_filename")
        if uploaded_filename:
            data = discord.cdn.take_upload(str(uploaded_filename))
            if data is None:
                raise form_error(
                    f"attachments.{position}.uploaded_filename",
                    "ATTACHMENT_NOT_FOUND",
                    "Cloud upload not found; PUT the file to its upload_url first.",
                )
            filename = str(entry.get("filename") or str(uploaded_filename).split("/")[-1])
            result.append(discord.store_file(channel_id, filename, data))
            continue
        part = by_index.pop(int(entry_id), None) if entry_id.isdigit() else None
        if part is None:
            raise form_error(
                f"attachments.{position}.id", "ATTACHMENT_NOT_FOUND", "Unknown attachment."
            )
        filename = str(entry.get("filename") or part.filename)
        result.append(discord.store_file(channel_id, filename, part.data))

    for upload in by_index.values():
        result.append(discord.store_file(channel_id, upload.filename, upload.data))
    return result


def message_changes(
    discord: SandboxDiscord,
    channel_id: str,
    body: Mapping[str, Any],
    uploads: Sequence[Upload],
    existing: Sequence[StoredAttachment],
) -> dict[str, Any]:
    """Build the changes of a PATCH body; omitted ``attachments`` keeps the old ones."""
    validate_message_body(body, file_count=len(uploads), editing=True)
    changes: dict[str, Any] = {k: body[k] for k in ("content", "embeds", "components") if k in body}
    if "flags" in body and body["flags"] is not None:
        changes["flags"] = int(body["flags"])
    if "attachments" in body or uploads:
        listed = body.get("attachments")
        if listed is None:
            listed = [{"id": attachment.id} for attachment in existing]
        changes["attachments"] = resolve_attachments(
            discord, channel_id, listed, uploads, existing=existing
        )
    return changes
