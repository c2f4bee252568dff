"""The storage protocol every backend implements."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import quote

from ophis.server.errors import ServerError

log = logging.getLogger("ophis.server")


class StorageError(ServerError):
    """The storage backend is misconfigured or unreachable (a missing bucket, refused
    credentials, a network failure): the request may succeed once it is fixed."""

    status = 503
    exception_name = "StorageError"


def check_key(key: str) -> list[str]:
    """The parts of a valid key: relative, ``/``-separated, without empty, ``.`` or ``..``
    parts, so that no key can name something outside the store."""
    parts = key.split("/")
    if not key or any(part in ("", ".", "..") for part in parts) or "\\" in key:
        raise ValueError(f"invalid storage key {key!r}")
    return parts


def check_prefix(prefix: str) -> str:
    """A key prefix (``""``, ``blobs/``, ``blobs/ab``): the parts of a key, the last one
    possibly partial or empty."""
    if prefix:
        check_key(prefix.removesuffix("/") + "/x" if prefix.endswith("/") else prefix)
    return prefix


def content_disposition(filename: str) -> str:
    """``attachment`` with the name as given (RFC 6266), plus an ASCII fallback when the
    name is not plain ASCII or holds quotes."""
    plain = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    if plain == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(filename, safe='')}"


class Storage(Protocol):
    def put_file(self, key: str, source: Path) -> None:
        """Store ``source`` under ``key`` atomically and durably (readers never see half a
        file; once this returns the bytes survive a crash). ``source`` is gone afterwards
        (moved into the store, or deleted once copied); after a failure it may be too."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes; raises FileNotFoundError when ``key`` is absent."""

    def local_path(self, key: str) -> Path | None:
        """A path a web server may send directly, or None for remote backends."""

    def iter_bytes(self, key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        """The stored bytes in chunks; raises FileNotFoundError at the call (not at the
        first chunk) when ``key`` is absent, so a response can still be an error."""

    def delete(self, key: str) -> None:
        """Remove ``key``; absent keys are not an error."""

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key starting with ``prefix`` (a plain string prefix, as S3 lists),
        in no particular order: for sweeps of unreferenced blobs, and for tests."""

    def temp_dir(self) -> Path:
        """A local directory for uploads in progress, on the same filesystem as the store
        when the backend is local (so that committing is a rename)."""

    def download_url(self, key: str, filename: str, expires: int = 600) -> str | None:
        """A URL a client may fetch ``key`` from directly for ``expires`` seconds (saved as
        ``filename``), or None when the server must send the bytes itself."""


def delete_quietly(storage: Storage, keys: list[str]) -> None:
    """Delete blobs whose rows are gone (the change committed): a failure only leaves an
    orphan, logged rather than reported as the change failing."""
    for key in keys:
        try:
            storage.delete(key)
        except Exception:
            log.warning("could not delete the unreferenced blob %s", key, exc_info=True)
