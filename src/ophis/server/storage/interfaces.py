"""The storage protocol every backend implements."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class Storage(Protocol):
    def put_file(self, key: str, source: Path) -> None:
        """Store ``source`` under ``key`` atomically (readers never see half a file);
        ``source`` may be moved away."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes; raises FileNotFoundError when ``key`` is absent."""

    def local_path(self, key: str) -> Path | None:
        """A path a web server may send directly, or None for remote backends."""

    def iter_bytes(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""

    def exists(self, key: str) -> bool: ...

    def temp_dir(self) -> Path:
        """A local directory for uploads in progress, on the same filesystem as the store
        when the backend is local (so that committing is a rename)."""
