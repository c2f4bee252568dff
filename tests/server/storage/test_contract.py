"""What every storage backend promises (``ophis.server.storage.interfaces.Storage``), checked
against each of them: local files and S3."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from ophis.server.storage.interfaces import Storage
from ophis.server.storage.local import LocalStorage
from ophis.testing.s3 import PART

KEY = "blobs/ab/abcdef/demo-1.0-0.conda"
INVALID_KEYS = ["", "/abs", "a//b", "a/", "../up", "a/../b", "a/./b", ".", "a\\b"]


def source(storage: Storage, data: bytes, name: str = "upload.bin") -> Path:
    """A staged file, where uploads wait: the backend's own temporary directory."""
    path = storage.temp_dir() / name
    path.write_bytes(data)
    return path


def test_a_stored_file_reads_back_whole(storage: Storage) -> None:
    data = os.urandom(300_000)
    staged = source(storage, data)
    assert not storage.exists(KEY)
    storage.put_file(KEY, staged)
    assert not staged.exists()  # consumed: nothing left behind in the staging area
    assert storage.exists(KEY)
    with storage.open(KEY) as handle:
        assert handle.read() == data
    chunks = list(storage.iter_bytes(KEY, chunk_size=64 * 1024))
    assert b"".join(chunks) == data
    assert all(len(chunk) <= 64 * 1024 for chunk in chunks)
    assert list(storage.keys()) == [KEY]


def test_putting_a_key_again_replaces_it(storage: Storage) -> None:
    storage.put_file(KEY, source(storage, b"first"))
    storage.put_file(KEY, source(storage, b"second"))
    assert b"".join(storage.iter_bytes(KEY)) == b"second"


def test_deleting_removes_and_absent_keys_are_not_an_error(storage: Storage) -> None:
    storage.put_file(KEY, source(storage, b"bytes"))
    storage.delete(KEY)
    assert not storage.exists(KEY)
    assert list(storage.keys()) == []
    storage.delete(KEY)  # again: nothing to do
    storage.delete("never/stored")


def test_a_missing_key_raises_file_not_found_at_once(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.open("blobs/nothing/here.conda")
    with pytest.raises(FileNotFoundError):
        # at the call, not at the first chunk: a response can still become an error
        storage.iter_bytes("blobs/nothing/here.conda")
    assert not storage.exists("blobs/nothing/here.conda")


@pytest.mark.parametrize("key", INVALID_KEYS)
def test_invalid_keys_are_refused(storage: Storage, key: str) -> None:
    staged = source(storage, b"x")
    for attempt in (
        lambda: storage.put_file(key, staged),
        lambda: storage.open(key),
        lambda: storage.iter_bytes(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
        lambda: storage.local_path(key),
        lambda: storage.download_url(key, "x"),
    ):
        with pytest.raises(ValueError, match="invalid storage key"):
            attempt()
    assert staged.exists() and list(storage.keys()) == []


def test_keys_lists_by_prefix(storage: Storage) -> None:
    for key in ("blobs/ab/1/a.conda", "blobs/ab/2/b.conda", "blobs/cd/3/c.conda", "icons/x.png"):
        storage.put_file(key, source(storage, key.encode()))
    assert sorted(storage.keys("blobs/ab/")) == ["blobs/ab/1/a.conda", "blobs/ab/2/b.conda"]
    assert sorted(storage.keys("blobs/c")) == ["blobs/cd/3/c.conda"]
    assert len(list(storage.keys())) == 4
    assert list(storage.keys("nothing/")) == []
    with pytest.raises(ValueError):
        list(storage.keys("../"))


def test_a_large_file_takes_the_multipart_path(storage: Storage) -> None:
    data = os.urandom(2 * PART + 12345)  # three parts with the test's 5 MiB threshold
    storage.put_file(KEY, source(storage, data))
    assert b"".join(storage.iter_bytes(KEY)) == data
    if not isinstance(storage, LocalStorage):
        # S3's ETag of a multipart object is "<md5 of the parts' md5s>-<number of parts>"
        head = storage.client.head_object(Bucket=storage.bucket, Key=storage._key(KEY))
        assert head["ETag"].strip('"').endswith("-3")


def test_local_files_are_sent_directly_and_remote_ones_by_url(storage: Storage) -> None:
    data = os.urandom(100_000)
    storage.put_file(KEY, source(storage, data))
    if isinstance(storage, LocalStorage):
        path = storage.local_path(KEY)
        assert path is not None and path.read_bytes() == data
        assert storage.download_url(KEY, "demo-1.0-0.conda") is None
        return
    assert storage.local_path(KEY) is None
    url = storage.download_url(KEY, "demo-1.0-0.conda", expires=60)
    assert url is not None
    whole = httpx.get(url)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-disposition"] == 'attachment; filename="demo-1.0-0.conda"'
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"


def test_temp_dir_is_a_local_directory(storage: Storage) -> None:
    assert storage.temp_dir().is_dir()
    assert not list(storage.keys())  # what waits there is not stored
    source(storage, b"in progress")
    assert not list(storage.keys())
