"""Attachment storage with signed, expiring URLs shaped like Discord's CDN links.

A URL looks like ``{base}/attachments/{channel}/{id}/{filename}?ex=..&is=..&hm=..`` where
``ex`` and ``is`` are hex Unix times (expiry, issue) and ``hm`` is an HMAC over the path
and both times. The media proxy form (``proxy_url``) puts ``/media`` in front of the path.
Cloud upload slots (the two-step upload user clients use) live here as well.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

_log = logging.getLogger(__name__)

MIB = 1024 * 1024


class AttachmentUnavailableError(Exception):
    """A CDN request that Discord would not serve, with the HTTP status it would send."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class StoredAttachment:
    """One stored file and the facts its attachment object reports."""

    id: str
    channel_id: str
    filename: str
    data: bytes
    content_type: str
    width: int | None = None
    height: int | None = None

    @property
    def path(self) -> str:
        return f"/attachments/{self.channel_id}/{self.id}/{quote(self.filename)}"


def guess_content_type(filename: str) -> str:
    """Return the MIME type for a filename; uploads arrive as octet-stream, so the name decides."""
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


class AttachmentStore:
    """Keep attachment bytes in memory and sign the URLs that serve them.

    The oldest files are dropped once ``max_bytes`` is exceeded; their links then answer
    404 like an expired Discord link, which keeps long benchmark runs at flat memory.
    """

    def __init__(self, *, ttl_seconds: float, max_bytes: int = 512 * MIB) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_bytes = max_bytes
        self.base_url = ""
        # Tests move this clock forward to make every issued link expire.
        self.clock: Callable[[], float] = time.time
        # Age given to the links in message payloads, as if the message were read long after
        # it was posted. Past the ttl, links arrive expired. Refreshed links are always new.
        self.link_age_seconds = 0.0
        self._key = secrets.token_bytes(32)
        self._files: OrderedDict[str, StoredAttachment] = OrderedDict()
        self._stored_bytes = 0
        self._uploads: dict[str, bytes | None] = {}

    def add(self, attachment: StoredAttachment) -> StoredAttachment:
        """Store a file, evicting the oldest ones past the memory budget."""
        self._files[attachment.id] = attachment
        self._stored_bytes += len(attachment.data)
        while self._stored_bytes > self.max_bytes and len(self._files) > 1:
            _, evicted = self._files.popitem(last=False)
            self._stored_bytes -= len(evicted.data)
            _log.info("attachment %s evicted to stay under %d bytes", evicted.id, self.max_bytes)
        return attachment

    def get(self, attachment_id: str) -> StoredAttachment | None:
        """Return a stored file by id, or None when unknown or evicted."""
        return self._files.get(attachment_id)

    def payload(self, attachment: StoredAttachment, *, age: float | None = None) -> dict[str, Any]:
        """Build the attachment object with signed ``url`` and ``proxy_url``.

        The links count as issued ``age`` seconds ago (``link_age_seconds`` when None).
        """
        issued_ago = self.link_age_seconds if age is None else age
        query = self._signed_query(attachment.path, issued_ago)
        data: dict[str, Any] = {
            "id": attachment.id,
            "filename": attachment.filename,
            "size": len(attachment.data),
            "url": f"{self.base_url}{attachment.path}?{query}",
            "proxy_url": f"{self.base_url}/media{attachment.path}?{query}",
            "content_type": attachment.content_type,
        }
        if attachment.width is not None and attachment.height is not None:
            data["width"] = attachment.width
            data["height"] = attachment.height
        return data

    def open(self, path: str, query: dict[str, str]) -> StoredAttachment:
        """Return the file a signed CDN path names, or raise AttachmentUnavailableError."""
        expiry_hex, issued_hex, signature = query.get("ex"), query.get("is"), query.get("hm")
        if not (expiry_hex and issued_hex and signature):
            raise AttachmentUnavailableError(404, "This content is no longer available.")
        expected = self._signature(path, expiry_hex, issued_hex)
        if not hmac.compare_digest(expected, signature):
            raise AttachmentUnavailableError(403, "Invalid signature.")
        if int(expiry_hex, 16) < self.clock():
            raise AttachmentUnavailableError(404, "This content is no longer available.")

        parts = path.strip("/").split("/")
        attachment = self._files.get(parts[2]) if len(parts) == 4 else None
        if attachment is None or attachment.path != path:
            raise AttachmentUnavailableError(404, "Not found.")
        return attachment

    def refresh(self, url: str) -> str | None:
        """Return a newly signed URL for a known attachment URL (signed, expired or bare)."""
        parsed = urlsplit(url)
        path = parsed.path.removeprefix("/media")
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "attachments":
            return None
        attachment = self._files.get(parts[2])
        if attachment is None:
            return None
        return self.payload(attachment, age=0.0)["url"]

    def open_upload_slot(self, filename: str) -> tuple[str, str]:
        """Reserve a cloud-upload slot; return (upload_filename, upload_url)."""
        upload_filename = f"{uuid.uuid4()}/{filename}"
        self._uploads[upload_filename] = None
        return upload_filename, f"{self.base_url}/upload/{quote(upload_filename)}"

    def receive_upload(self, upload_filename: str, data: bytes) -> bool:
        """Store the bytes PUT to a slot; False when the slot was never opened."""
        if upload_filename not in self._uploads:
            return False
        self._uploads[upload_filename] = data
        return True

    def take_upload(self, upload_filename: str) -> bytes | None:
        """Remove and return the bytes of a filled upload slot."""
        data = self._uploads.get(upload_filename)
        if data is not None:
            del self._uploads[upload_filename]
        return data

    def _signed_query(self, path: str, issued_ago: float = 0.0) -> str:
        issued = int(self.clock() - issued_ago)
        expiry_hex = format(int(issued + self.ttl_seconds), "x")
        issued_hex = format(issued, "x")
        signature = self._signature(path, expiry_hex, issued_hex)
        return f"ex={expiry_hex}&is={issued_hex}&hm={signature}&"

    def _signature(self, path: str, expiry_hex: str, issued_hex: str) -> str:
        message = f"{path}|{expiry_hex}|{issued_hex}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def single_values(query: str) -> dict[str, str]:
    """Return the first value of every query parameter."""
    return {name: values[0] for name, values in parse_qs(query).items()}
