"""Signed download links for output files too big to attach in Discord.

A link names a batch and a file and carries an HMAC of both with an expiry, so the web
route can serve it without a login, and no one without the secret can forge a link to
another batch's file. It also carries the batch's creation time, which the web route
compares with the stored batch: SQLite hands a deleted batch's id to the next batch, and
the old links must not open the new batch's files.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class InvalidDownloadTokenError(Exception):
    """The download token is malformed, forged or expired."""


@dataclass(frozen=True, slots=True)
class DownloadGrant:
    """Permission a valid token grants: one file of one batch until ``expires_at``."""

    batch_id: int
    filename: str
    expires_at: int
    batch_stamp: int

    def made_for(self, created_at: datetime) -> bool:
        """Return whether the grant was made for the batch created then, not an earlier one."""
        return batch_stamp(created_at) == self.batch_stamp


def batch_stamp(created_at: datetime) -> int:
    """Return a batch's creation time in microseconds since 1970, which tells reused ids apart."""
    if created_at.tzinfo is None:
        created_at = created_at.replace(tzinfo=UTC)
    return (created_at - _EPOCH) // _MICROSECOND


def sign_download(
    secret: bytes,
    batch_id: int,
    filename: str,
    *,
    batch_created_at: datetime,
    ttl_seconds: int,
) -> str:
    """Return a URL-safe token that grants the download of one output file of one batch."""
    fields = {
        "b": batch_id,
        "c": batch_stamp(batch_created_at),
        "f": filename,
        "e": int(time.time()) + ttl_seconds,
    }
    body = json.dumps(fields, separators=(",", ":")).encode()
    signature = hmac.new(_download_key(secret), body, hashlib.sha256).digest()
    return f"{_encode(body)}.{_encode(signature)}"


def verify_download(secret: bytes, token: str) -> DownloadGrant:
    """Return the grant a token carries, or raise InvalidDownloadTokenError."""
    try:
        body_part, signature_part = token.split(".", 1)
        body = _decode(body_part)
        signature = _decode(signature_part)
    except ValueError as error:
        raise InvalidDownloadTokenError("malformed token") from error

    expected = hmac.new(_download_key(secret), body, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        raise InvalidDownloadTokenError("bad signature")

    try:
        fields = json.loads(body)
        grant = DownloadGrant(
            batch_id=int(fields["b"]),
            filename=str(fields["f"]),
            expires_at=int(fields["e"]),
            batch_stamp=int(fields["c"]),
        )
    except (ValueError, KeyError, TypeError) as error:
        # Links signed before batches were stamped name no batch for certain.
        raise InvalidDownloadTokenError("outdated token") from error
    if grant.expires_at < time.time():
        raise InvalidDownloadTokenError("expired")
    return grant


def _download_key(secret: bytes) -> bytes:
    # Derive a key of its own so a download token can never double as anything else.
    return hmac.new(secret, b"midjau-download-link", hashlib.sha256).digest()


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
