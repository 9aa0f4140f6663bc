"""Encryption at rest for Discord user tokens (Fernet: AES-128-CBC with HMAC-SHA256).

The key lives in a file readable only by its owner, or comes from the settings. Neither
the key nor a token ever appears in a repr, an exception message or a log line.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)


class TokenDecryptionError(Exception):
    """The ciphertext was not made with this key, or it was changed."""


class TokenCipher:
    """Encrypts and decrypts Discord tokens with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            # The library's message may quote the key, so it is dropped.
            raise ValueError(
                "invalid token encryption key: expected 32 bytes in url-safe base64 "
                "(44 characters), as made by Fernet.generate_key()"
            ) from None

    def __repr__(self) -> str:
        return "TokenCipher(key=<hidden>)"

    def encrypt(self, token: str) -> bytes:
        """Return the ciphertext of ``token``."""
        return self._fernet.encrypt(token.encode("utf-8"))

    def decrypt(self, ciphertext: bytes) -> str:
        """Return the token inside ``ciphertext``; raise ``TokenDecryptionError`` if it is bad."""
        try:
            return self._fernet.decrypt(ciphertext).decode("utf-8")
        except (InvalidToken, TypeError, UnicodeDecodeError):
            raise TokenDecryptionError(
                "cannot decrypt a stored Discord token: it was encrypted with another key "
                "or is damaged; check the secret key setting, or connect the account again"
            ) from None


def load_or_create_key(path: Path) -> bytes:
    """Return the Fernet key stored at ``path``, creating the file (mode 0600) if missing."""
    path = Path(path)
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass

    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        # O_EXCL: if another process created the file meanwhile, use its key instead.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key + b"\n")
    log.info("created a new token encryption key at %s", path)
    return key


def _read_key(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("key file %s is readable by other users (mode %o); use chmod 600", path, mode)
    key = path.read_bytes().strip()
    try:
        TokenCipher(key)
    except ValueError as error:
        raise ValueError(f"{path}: {error}; restore the key file or set the secret key") from None
    return key
