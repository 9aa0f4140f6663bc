"""A blob store on the local disk: result images and outputs, addressed by key.

A key is a relative POSIX path such as ``batches/41/jobs/3f2a/grid.png``. Keys are checked
before any file is touched, so a key built from outside data cannot reach a file outside
the store's root. Writes are atomic (a temporary file, then ``os.replace``), so a reader
never sees half a file, and all file I/O runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

log = logging.getLogger(__name__)

MAX_KEY_LENGTH = 1024


def validate_key(key: str) -> str:
    """Return ``key`` unchanged, or raise ``ValueError`` saying why it is not a valid key."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"invalid blob key {key!r}: a key must be a non-empty string")
    problem = _key_problem(key)
    if problem:
        raise ValueError(
            f"invalid blob key {key!r}: {problem}; "
            "use a relative POSIX path such as 'batches/41/grid.png'"
        )
    return key


def _key_problem(key: str) -> str:
    if len(key) > MAX_KEY_LENGTH:
        return f"longer than {MAX_KEY_LENGTH} characters"
    if "\x00" in key:
        return "contains a NUL character"
    if any(ord(character) < 32 for character in key):
        return "contains a control character"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/"):
        return "is an absolute path"
    segments = key.split("/")
    if any(segment == "" for segment in segments):
        return "has an empty path segment"
    if any(segment in (".", "..") for segment in segments):
        return "has a '.' or '..' segment"
    if ":" in segments[0]:
        return "starts with a drive or scheme"
    return ""


class LocalBlobStore:
    """Blobs stored as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """Return the file path of ``key`` (which may not exist yet)."""
        validate_key(key)
        return self.root.joinpath(*PurePosixPath(key).parts)

    async def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``, replacing any previous blob atomically."""
        target = self.path(key)
        await asyncio.to_thread(_write_atomically, target, data)
        log.debug("stored blob %s (%d bytes)", key, len(data))

    async def put_file(self, key: str, src: Path) -> None:
        """Copy the file ``src`` into the store under ``key``, atomically."""
        target = self.path(key)
        await asyncio.to_thread(_copy_atomically, Path(src), target)
        log.debug("stored blob %s from %s", key, src)

    async def read(self, key: str) -> bytes:
        """Return the bytes of ``key``; raise ``FileNotFoundError`` when it is missing."""
        return await asyncio.to_thread(self.path(key).read_bytes)

    async def exists(self, key: str) -> bool:
        """Return whether a blob is stored under ``key``."""
        return await asyncio.to_thread(self.path(key).is_file)

    async def delete(self, key: str) -> None:
        """Delete ``key``; a missing blob is not an error."""
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)


@contextmanager
def open_atomic(target: Path) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``target`` for writing and move it over ``target``.

    The move happens only when the block ends without an exception; otherwise the
    temporary file is removed and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w+b") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _write_atomically(target: Path, data: bytes) -> None:
    with open_atomic(target) as handle:
        handle.write(data)


def _copy_atomically(src: Path, target: Path) -> None:
    with src.open("rb") as source, open_atomic(target) as handle:
        shutil.copyfileobj(source, handle)
