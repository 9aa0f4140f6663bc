"""The local blob store: key checks, atomic writes, round trips."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from storage.blobs import LocalBlobStore, open_atomic, validate_key

HOSTILE_KEYS = [
    "",
    "../outside.png",
    "a/../../etc/passwd",
    "a/..",
    "/etc/passwd",
    "./a.png",
    "a/./b.png",
    "a\\..\\b.png",
    "..\\..\\windows\\win.ini",
    "a//b.png",
    "a/",
    "a\x00b.png",
    "a\nb.png",
    "C:/Windows/win.ini",
    "C:evil.png",
]


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


async def test_put_and_read_round_trip(store: LocalBlobStore) -> None:
    await store.put("batches/1/jobs/abc/grid.png", b"\x89PNG data")

    assert await store.read("batches/1/jobs/abc/grid.png") == b"\x89PNG data"
    assert await store.exists("batches/1/jobs/abc/grid.png")
    assert store.path("batches/1/jobs/abc/grid.png") == store.root / "batches/1/jobs/abc/grid.png"


async def test_put_file_copies_content(store: LocalBlobStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    data = os.urandom(300_000)
    await asyncio.to_thread(source.write_bytes, data)

    await store.put_file("copies/source.bin", source)

    assert await store.read("copies/source.bin") == data


async def test_delete_removes_blob_and_ignores_missing(store: LocalBlobStore) -> None:
    await store.put("x/y.txt", b"1")

    await store.delete("x/y.txt")
    await store.delete("x/y.txt")

    assert not await store.exists("x/y.txt")


async def test_read_missing_raises(store: LocalBlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        await store.read("nothing/here.png")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
async def test_hostile_key_is_rejected(store: LocalBlobStore, tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key") as raised:
        await store.put(key, b"payload")

    assert repr(key) in str(raised.value)
    written = await asyncio.to_thread(lambda: [p for p in tmp_path.rglob("*") if p.is_file()])
    assert written == []


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_hostile_key_has_no_path(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(ValueError, match="invalid blob key"):
        store.path(key)


@pytest.mark.parametrize(
    "key", ["a.png", "batches/41/jobs/3f2a/U2.png", "unicode/café.png", "a..b/c"]
)
def test_ordinary_keys_are_accepted(key: str) -> None:
    assert validate_key(key) == key


async def test_overwrite_is_atomic_and_leaves_no_temporary_files(store: LocalBlobStore) -> None:
    await store.put("k/blob.bin", b"old")
    await store.put("k/blob.bin", b"new content")

    assert await store.read("k/blob.bin") == b"new content"
    names = await asyncio.to_thread(lambda: sorted(p.name for p in (store.root / "k").iterdir()))
    assert names == ["blob.bin"]


def test_failed_write_keeps_previous_content(tmp_path: Path) -> None:
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"previous")

    with pytest.raises(RuntimeError), open_atomic(target) as handle:
        handle.write(b"half of a new fi")
        raise RuntimeError("disk went away")

    assert target.read_bytes() == b"previous"
    assert [path.name for path in tmp_path.iterdir()] == ["report.xlsx"]


def test_reader_never_sees_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "part.zip"

    with open_atomic(target) as handle:
        handle.write(b"first half ")
        assert not target.exists()
        handle.write(b"second half")

    assert target.read_bytes() == b"first half second half"
