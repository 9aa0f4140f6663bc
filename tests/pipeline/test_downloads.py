import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from pipeline.downloads import (
    InvalidDownloadTokenError,
    _decode,
    _download_key,
    _encode,
    sign_download,
    verify_download,
)

SECRET = b"0123456789abcdef0123456789abcdef"
CREATED = datetime(2026, 5, 4, 12, 30, 15, 123456, tzinfo=UTC)


def test_signed_link_round_trips():
    token = sign_download(
        SECRET, 41, "41-images-part2.zip", batch_created_at=CREATED, ttl_seconds=60
    )

    grant = verify_download(SECRET, token)

    assert grant.batch_id == 41
    assert grant.filename == "41-images-part2.zip"
    assert grant.expires_at >= time.time() + 59
    assert grant.made_for(CREATED)


def test_link_rejects_batch_created_microsecond_later():
    token = sign_download(SECRET, 41, "report.xlsx", batch_created_at=CREATED, ttl_seconds=60)

    grant = verify_download(SECRET, token)

    assert not grant.made_for(CREATED + timedelta(microseconds=1))
    assert grant.made_for(CREATED.astimezone(timezone(timedelta(hours=2))))


def test_link_without_batch_time_is_rejected():
    body = _encode(json.dumps({"b": 41, "f": "report.xlsx", "e": int(time.time()) + 60}).encode())
    signature = hmac.new(_download_key(SECRET), _decode(body), hashlib.sha256).digest()

    with pytest.raises(InvalidDownloadTokenError, match="outdated"):
        verify_download(SECRET, f"{body}.{_encode(signature)}")


def test_link_signed_with_another_secret_is_rejected():
    token = sign_download(
        b"another secret", 41, "report.xlsx", batch_created_at=CREATED, ttl_seconds=60
    )

    with pytest.raises(InvalidDownloadTokenError, match="bad signature"):
        verify_download(SECRET, token)


def test_tampered_batch_id_is_rejected():
    token = sign_download(SECRET, 41, "report.xlsx", batch_created_at=CREATED, ttl_seconds=60)
    forged = sign_download(b"x", 42, "report.xlsx", batch_created_at=CREATED, ttl_seconds=60).split(
        "."
    )[0]

    with pytest.raises(InvalidDownloadTokenError):
        verify_download(SECRET, f"{forged}.{token.split('.')[1]}")


def test_expired_link_is_rejected():
    token = sign_download(SECRET, 41, "report.xlsx", batch_created_at=CREATED, ttl_seconds=-1)

    with pytest.raises(InvalidDownloadTokenError, match="expired"):
        verify_download(SECRET, token)


@pytest.mark.parametrize("token", ["", "no-dot", "a.b", "!!!.???"])
def test_malformed_token_is_rejected(token):
    with pytest.raises(InvalidDownloadTokenError):
        verify_download(SECRET, token)
