import time

import pytest

from pipeline.downloads import InvalidDownloadTokenError, sign_download, verify_download

SECRET = b"0123456789abcdef0123456789abcdef"


def test_signed_link_round_trips():
    token = sign_download(SECRET, 41, "41-images-part2.zip", ttl_seconds=60)

    grant = verify_download(SECRET, token)

    assert grant.batch_id == 41
    assert grant.filename == "41-images-part2.zip"
    assert grant.expires_at >= time.time() + 59


def test_link_signed_with_another_secret_is_rejected():
    token = sign_download(b"another secret", 41, "report.xlsx", ttl_seconds=60)

    with pytest.raises(InvalidDownloadTokenError, match="bad signature"):
        verify_download(SECRET, token)


def test_tampered_batch_id_is_rejected():
    token = sign_download(SECRET, 41, "report.xlsx", ttl_seconds=60)
    forged = sign_download(b"x", 42, "report.xlsx", ttl_seconds=60).split(".")[0]

    with pytest.raises(InvalidDownloadTokenError):
        verify_download(SECRET, f"{forged}.{token.split('.')[1]}")


def test_expired_link_is_rejected():
    token = sign_download(SECRET, 41, "report.xlsx", ttl_seconds=-1)

    with pytest.raises(InvalidDownloadTokenError, match="expired"):
        verify_download(SECRET, token)


@pytest.mark.parametrize("token", ["", "no-dot", "a.b", "!!!.???"])
def test_malformed_token_is_rejected(token):
    with pytest.raises(InvalidDownloadTokenError):
        verify_download(SECRET, token)
