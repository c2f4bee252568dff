"""One file over HTTP(S) into a target path: resumed when cut off, verified before it lands.

The file is fetched into ``<target>.partial``. A partial file left by an earlier attempt
(a dropped connection, a killed process) is continued with ``Range: bytes=N-``, and
started over when the server ignores ranges. The whole file is checked against the
expected digest (sha256, else md5) and only then renamed to ``target``, so ``target``
never holds a file that failed its check. A file whose digest is wrong is deleted, never
resumed from.

Used by the package manager (the package cache) and by the mirror (a channel folder);
each passes its own error class so that its messages keep its conda name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ophis.core.errors import OphisError

if TYPE_CHECKING:
    import httpx

#: makes an ``httpx`` transport from its options (``verify=``): how a server's requests
#: are kept off its own network (:mod:`ophis.client.address_guard`)
TransportFactory = Callable[..., "httpx.BaseTransport"]
_CHUNK = 256 * 1024
_USER_AGENT = "ophis (conda-compatible)"
_TIMEOUT_SECONDS = 60.0


class DownloadError(OphisError):
    """A file could not be downloaded, or arrived different from what its index says."""

    exception_name = "CondaHTTPError"


class Stopped(Exception):
    """Another download failed or the user interrupted: this one stops at its next chunk;
    its partial file is kept for next time."""


def download_client(
    timeout: float = _TIMEOUT_SECONDS,
    verify: bool | str = True,
    transport: TransportFactory | None = None,
) -> httpx.Client:
    """An HTTP client for package files: no content encoding, because archives are
    compressed already and a Range counts bytes of the file as it is stored. ``verify``
    is conda's ``ssl_verify``: False with ``-k/--insecure``, or a CA bundle's path.
    ``transport`` makes the client's transport (a server's: see ``address_guard``)."""
    import httpx  # here, not at import: a plan that downloads nothing never loads it

    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    return httpx.Client(
        timeout=timeout,
        follow_redirects=True,
        headers=headers,
        verify=verify,
        transport=transport(verify=verify) if transport else None,
    )


@dataclass(frozen=True)
class FileDownload:
    url: str  #: the file's URL without credentials: the one messages show
    request_url: str  #: with credentials
    target: Path
    size: int | None
    #: (algorithm, hex digest) the file must have; None: anything is accepted
    expected: tuple[str, str] | None

    @property
    def partial(self) -> Path:
        return self.target.with_name(f"{self.target.name}.partial")

    def hasher(self) -> Any:
        return hashlib.new(self.expected[0] if self.expected else "sha256")


def expected_digest(sha256: str | bytes | None, md5: str | bytes | None) -> tuple[str, str] | None:
    """What a record promises: sha256 when it has one, else md5, else nothing."""
    for algorithm, value in (("sha256", sha256), ("md5", md5)):
        if value:
            return algorithm, value.hex() if isinstance(value, bytes) else str(value)
    return None


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    hasher = hashlib.new(algorithm)
    _feed(hasher, path)
    return hasher.hexdigest()


def download_verified(
    client: httpx.Client,
    item: FileDownload,
    advance: Callable[[int], None],
    stop: threading.Event,
    *,
    error: type[OphisError] = DownloadError,
    refetch: Callable[[int], None] = lambda _size: None,
) -> None:
    """Make ``item.target`` a verified copy of the file, resuming a partial download.

    ``advance(n)`` is told of every n bytes on disk (negative when a partial file is
    dropped); ``refetch(size)`` when a damaged ``target`` is fetched again. Raises ``error``
    when the download fails or does not match; :class:`Stopped` once ``stop`` is set.
    """
    expected = item.expected
    if item.target.is_file():
        right_size = item.size is None or item.target.stat().st_size == item.size
        if right_size and (
            expected is None or file_digest(item.target, expected[0]) == expected[1]
        ):
            return
        item.target.unlink()  # a damaged copy: fetch it again
        refetch(item.size or 0)
    actual = _fetch(client, item, advance, stop, error)
    size = item.partial.stat().st_size
    if item.size is not None and size != item.size:
        raise _wrong_size(item, f"{size} bytes", error)
    if expected is not None and actual != expected[1]:
        item.partial.unlink(missing_ok=True)
        raise error(
            f"The download of {item.url} does not match its channel's index: expected "
            f"{expected[0]} {expected[1]}, got {actual}.",
            "The download was deleted. Run the command again to download it afresh; if it "
            "happens again, the channel serves a file its index does not describe: tell the "
            "channel's owner.",
        )
    os.replace(item.partial, item.target)


def _fetch(
    client: httpx.Client,
    item: FileDownload,
    advance: Callable[[int], None],
    stop: threading.Event,
    error: type[OphisError],
) -> str:
    """Download into the partial file, continuing what is there; return the file's digest."""
    hasher, offset = _resume(item)
    advance(offset)
    if offset and offset == item.size:
        return hasher.hexdigest()  # complete already: only the rename was missing
    import httpx  # loaded already by download_client

    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with client.stream("GET", item.request_url, headers=headers) as response:
            if offset and not _continues(response, offset):
                advance(-offset)
                hasher, offset = item.hasher(), 0
                if response.status_code != 200:  # e.g. 416: what we have cannot be continued
                    item.partial.unlink()
                    return _fetch(client, item, advance, stop, error)
            _check_status(response, item, error)
            with item.partial.open("ab" if offset else "wb") as out:
                for chunk in response.iter_bytes():  # as received: a drop loses nothing
                    if stop.is_set():
                        raise Stopped
                    offset += len(chunk)
                    if item.size is not None and offset > item.size:  # stop, do not fill the disk
                        out.close()
                        raise _wrong_size(item, f"at least {offset} bytes", error)
                    out.write(chunk)
                    hasher.update(chunk)
                    advance(len(chunk))
    except httpx.HTTPError as failure:
        detail = str(failure).replace(item.request_url, item.url) or type(failure).__name__
        raise error(
            f"Downloading {item.url} failed: {detail}",
            "Check your network connection, then run the command again: the download "
            "resumes where it stopped.",
        ) from None
    return hasher.hexdigest()


def _wrong_size(item: FileDownload, actual: str, error: type[OphisError]) -> OphisError:
    """The error for a download whose size is not the index's; its partial file is gone."""
    item.partial.unlink(missing_ok=True)
    return error(
        f"The download of {item.url} is {actual}, but its channel's index says {item.size} bytes.",
        "The download was deleted. Run the command again; if it happens again, the channel "
        "serves a file its index does not describe: tell the channel's owner.",
    )


def _resume(item: FileDownload) -> tuple[Any, int]:
    """A hasher fed with the partial file's bytes, and their number (0: start afresh)."""
    hasher = item.hasher()
    try:
        size = item.partial.stat().st_size
    except FileNotFoundError:
        return hasher, 0
    if item.size is not None and size > item.size:  # longer than the file: not ours
        item.partial.unlink()
        return hasher, 0
    _feed(hasher, item.partial)
    return hasher, size


def _continues(response: httpx.Response, offset: int) -> bool:
    content_range = response.headers.get("Content-Range", "")
    return response.status_code == 206 and content_range.startswith(f"bytes {offset}-")


def _check_status(response: httpx.Response, item: FileDownload, error: type[OphisError]) -> None:
    code = response.status_code
    if code in (200, 206):
        return
    if code in (401, 403):
        raise error(
            f"The channel refused to send {item.url} (HTTP {code}).",
            "Check that you are logged in to the channel or that its token is valid, then "
            "run the command again.",
        )
    if code == 404:
        raise error(
            f"{item.url} was not found (HTTP 404).",
            "The channel's index names a package the channel does not have: try again "
            "later, or tell the channel's owner.",
        )
    raise error(
        f"Downloading {item.url} failed: HTTP {code} {response.reason_phrase}.",
        "Run the command again later: the download resumes where it stopped.",
    )


def _feed(hasher: Any, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
