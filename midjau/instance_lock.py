"""One running service per data folder: an exclusive lock on a file in it.

Two services on the same data would both drive the connected accounts, so the second
one must stop before it sends anything. The operating system releases the lock when the
process ends, however it ends, so a killed service never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_FILENAME = "midjau.lock"


class InstanceLockedError(Exception):
    """Another process holds the data folder's lock."""


class InstanceLock:
    """The held lock on a data folder; release() or process exit lets it go."""

    def __init__(self, path: Path, descriptor: int) -> None:
        self.path = path
        self._descriptor: int | None = descriptor

    def release(self) -> None:
        """Let another process take the data folder."""
        if self._descriptor is None:
            return
        descriptor, self._descriptor = self._descriptor, None
        fcntl.flock(descriptor, fcntl.LOCK_UN)
        os.close(descriptor)


def lock_data_dir(data_dir: Path) -> InstanceLock:
    """Take the data folder's lock and write our pid in it, or raise InstanceLockedError."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LOCK_FILENAME
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(descriptor)
        os.close(descriptor)
        raise InstanceLockedError(
            f"another `midjau run` is already using {data_dir} (pid {holder}); "
            "stop it first, or give this one another MIDJAU_DATA_DIR"
        ) from None
    except BaseException:
        os.close(descriptor)
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
    return InstanceLock(path, descriptor)


def _read_pid(descriptor: int) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        text = os.pread(descriptor, 32, 0).decode().strip()
        if text.isdigit():
            return text
    return "unknown"
