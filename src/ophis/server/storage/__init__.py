"""Where package files live: a small :class:`~ophis.server.storage.interfaces.Storage`
protocol, with a local-directory backend and an S3 one, chosen by ``settings.storage_url``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from urllib.request import url2pathname

from ophis.server.storage.interfaces import Storage, StorageError
from ophis.server.storage.local import LocalStorage

if TYPE_CHECKING:
    from ophis.server.settings import ServerSettings

__all__ = ["LocalStorage", "Storage", "StorageError", "open_storage"]


def open_storage(settings: ServerSettings) -> Storage:
    """The backend ``settings.storage_url`` names: none for local files in the data
    directory, ``file:///path`` for another directory, ``s3://bucket/prefix`` for S3."""
    url = settings.storage_url
    if not url:
        return LocalStorage(settings.storage_dir)
    scheme = urlsplit(url).scheme
    if scheme == "s3":
        from ophis.server.storage.s3 import S3Storage  # boto3 is imported only when used

        return S3Storage.from_url(
            url,
            # staged uploads wait on local disk, shared by the workers like the database
            temp_root=settings.data_dir / "staging",
            endpoint_url=settings.s3_endpoint_url,
        )
    if scheme == "file":
        return LocalStorage(Path(url2pathname(urlsplit(url).path)))
    raise StorageError(
        f"The storage URL {url!r} has no known scheme.",
        "Give s3://bucket/prefix for S3-compatible storage, file:///path for a directory, or"
        " nothing for files in the data directory.",
    )
