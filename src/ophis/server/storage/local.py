"""Package files in a local directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ophis.server.privacy import make_private, private_dir
from ophis.server.storage.interfaces import check_key, check_prefix

_TMP = ".tmp"


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = private_dir(Path(root))
        private_dir(self.root / _TMP)

    def _path(self, key: str) -> Path:
        parts = check_key(key)
        if parts[0] == _TMP:  # uploads in progress are not stored files
            raise ValueError(f"invalid storage key {key!r}")
        return self.root.joinpath(*parts)

    def put_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        private_dir(target.parent)
        # A name of its own: two threads storing the same file name under different keys
        # (content-addressed blobs) must not meet in one staging file.
        staging = self.root / _TMP / f"{uuid.uuid4().hex}-{target.name}"
        shutil.move(source, staging)  # a rename when on the same filesystem
        try:
            make_private(staging)  # the source may have come with the umask's mode
            _fsync(staging)  # durable before it is visible: the caller commits a row next
            os.replace(staging, target)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def iter_bytes(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        return _chunks(self.open(key), chunk_size)  # opened now: a missing key raises here

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        # walk only the folder the prefix's complete parts name
        start = self.root.joinpath(*prefix.split("/")[:-1])
        for path in start.rglob("*") if start.is_dir() else []:
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file() and not key.startswith(f"{_TMP}/"):
                yield key

    def temp_dir(self) -> Path:
        return self.root / _TMP

    def download_url(self, key: str, filename: str, expires: int = 600) -> str | None:
        self._path(key)  # refused like every other use of a bad key
        return None  # the server sends local files itself (with Range support)


def _chunks(handle: BinaryIO, chunk_size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(chunk_size):
            yield chunk


def _fsync(path: Path) -> None:
    with path.open("r+b") as handle:  # Windows flushes only handles open for writing
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable; directories cannot be opened on Windows."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
