"""Password hashing with argon2 (argon2-cffi), always off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10
# Longer input only costs hashing time; no password manager makes passwords this long.
MAX_PASSWORD_LENGTH = 1024

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both cases take as long.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def password_problem(password: str) -> str:
    """Return what is wrong with a new password, or "" when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters for the password."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use at most {MAX_PASSWORD_LENGTH} characters for the password."
    return ""


async def hash_password(password: str) -> str:
    """Return the argon2 hash of ``password``."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Return whether ``password`` matches the hash; with no hash, spend the same time and fail."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return whether the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)
