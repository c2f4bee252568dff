"""Package files as the hot path (:mod:`ophis.server.conda.hot_path`) sends them: their
headers made once, and the small ones' bytes kept in memory, so that a download of a small
file costs no thread, no ``stat`` and no read.

Blobs are content-addressed (``blobs/<sha256>/<filename>``), so what is held for a blob
never goes stale. A file taken out of a channel is no longer looked up (the hot path's
look-ups forget it once the channel changes); what was held for it ages out of memory.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

from starlette.responses import FileResponse

from ophis.server.conda.responses import BINARY, CHUNK, cache_control
from ophis.server.services.channels.repodata import Download

#: package files up to this size are held whole in memory (larger ones sent in slices)
SMALL_FILE = 1024**2
#: the bytes of small files held at most, per server process
HELD_BYTES = 64 * 1024**2

RawHeaders = tuple[tuple[bytes, bytes], ...]


class _FileAnswer(FileResponse):
    chunk_size = CHUNK  # fewer trips to a thread per large file


@dataclass(frozen=True)
class HeldFile:
    path: Path
    etag: str
    stat: os.stat_result
    #: the whole file, for small ones; None: sent from disk
    body: bytes | None
    #: the headers of a 200 with the whole body, and of a 304
    whole: RawHeaders
    not_modified: RawHeaders

    def response(self) -> FileResponse:
        """Starlette's file answer (Range: 206, 416; HEAD), with this file's validators."""
        headers = _headers(self.etag)
        return _FileAnswer(self.path, media_type=BINARY, headers=headers, stat_result=self.stat)


def hold_file(path: Path, download: Download) -> HeldFile | None:
    """What is sent for ``download`` stored at ``path`` (read whole when small); None when
    the file is not there (the routes then answer)."""
    try:
        with path.open("rb") as file:
            stat = os.fstat(file.fileno())
            body = file.read() if stat.st_size <= SMALL_FILE else None
    except FileNotFoundError:
        return None
    etag = f'"{download.sha256}"'
    answer = _headers(etag)
    not_modified = encoded(answer)
    answer |= {"Content-Type": BINARY, "Content-Length": str(stat.st_size)}
    answer |= {"Last-Modified": formatdate(stat.st_mtime, usegmt=True), "Accept-Ranges": "bytes"}
    return HeldFile(path, etag, stat, body, encoded(answer), not_modified)


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": cache_control(True), "Vary": "Authorization"}


def encoded(headers: dict[str, str]) -> RawHeaders:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())


class HeldFiles:
    """The most recently sent files, by blob; small files' bytes within ``budget``."""

    def __init__(self, budget: int = HELD_BYTES, entries: int = 4096) -> None:
        self.budget, self.entries = budget, entries
        self._held: OrderedDict[tuple[str, str], HeldFile] = OrderedDict()
        self._bytes = 0

    def get(self, download: Download) -> HeldFile | None:
        key = (download.storage_key, download.sha256)
        held = self._held.get(key)
        if held is not None:
            self._held.move_to_end(key)
        return held

    def put(self, download: Download, held: HeldFile) -> None:
        key = (download.storage_key, download.sha256)
        self._forget(key)
        self._held[key] = held
        self._bytes += len(held.body or b"")
        while self._held and (self._bytes > self.budget or len(self._held) > self.entries):
            self._forget(next(iter(self._held)))

    def _forget(self, key: tuple[str, str]) -> None:
        gone = self._held.pop(key, None)
        if gone is not None:
            self._bytes -= len(gone.body or b"")
