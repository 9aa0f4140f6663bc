"""Token encryption at rest."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from storage.crypto import TokenCipher, TokenDecryptionError, load_or_create_key

TOKEN = "MTA5.user-token.secret-part"


def test_round_trip_returns_token() -> None:
    cipher = TokenCipher(Fernet.generate_key())

    ciphertext = cipher.encrypt(TOKEN)

    assert TOKEN.encode() not in ciphertext
    assert cipher.decrypt(ciphertext) == TOKEN


def test_repr_hides_key() -> None:
    key = Fernet.generate_key()

    text = repr(TokenCipher(key))

    assert key.decode() not in text
    assert "hidden" in text


def test_other_key_fails_without_leaking() -> None:
    key = Fernet.generate_key()
    other = Fernet.generate_key()
    ciphertext = TokenCipher(key).encrypt(TOKEN)

    with pytest.raises(TokenDecryptionError) as raised:
        TokenCipher(other).decrypt(ciphertext)

    message = str(raised.value)
    assert "another key" in message
    for secret in (TOKEN, key.decode(), other.decode(), ciphertext.decode()):
        assert secret not in message
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


@pytest.mark.parametrize("ciphertext", [b"", b"not a token", b"gAAAAA" + b"x" * 80])
def test_damaged_ciphertext_fails(ciphertext: bytes) -> None:
    with pytest.raises(TokenDecryptionError):
        TokenCipher(Fernet.generate_key()).decrypt(ciphertext)


def test_invalid_key_is_rejected_without_echo() -> None:
    bad_key = b"short-secret-key"

    with pytest.raises(ValueError, match="invalid token encryption key") as raised:
        TokenCipher(bad_key)

    assert bad_key.decode() not in str(raised.value)


def test_key_file_is_created_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "nested" / "token.key"

    key = load_or_create_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert TokenCipher(key).decrypt(TokenCipher(key).encrypt(TOKEN)) == TOKEN


def test_key_file_is_reused(tmp_path: Path) -> None:
    path = tmp_path / "token.key"

    first = load_or_create_key(path)
    second = load_or_create_key(path)

    assert first == second


def test_damaged_key_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "token.key"
    path.write_bytes(b"garbage")
    path.chmod(0o600)

    with pytest.raises(ValueError, match=r"token\.key"):
        load_or_create_key(path)
