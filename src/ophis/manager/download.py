"""Filling the package cache before linking: download, verify, extract (conda's
``ProgressiveFetchExtract``).

Every package a transaction links is put into the package cache (``pkgs_dirs[0]``) here,
before ``rattler.install`` runs, in the layout py-rattler 0.28's package cache reuses
instead of fetching the package again (checked by experiment, and by
``tests/manager/test_download.py``):

* ``<cache>/<name>-<version>-<build>/``: the extracted package;
* ``<cache>/<name>-<version>-<build>.lock``: rattler's lock file, an 8-byte big-endian
  revision followed by the archive's 32-byte sha256. rattler reuses the folder when that
  sha256 is the record's (or the file holds none) and fetches again when it differs.

Why not let rattler download: it cannot resume, and it reports bytes per package only.
Here HTTP(S) archives are fetched, up to :data:`MAX_PARALLEL` at a time, into
``<cache>/<filename>.partial``. An interrupted download is continued on the next run with
``Range: bytes=N-`` (and started over when the server ignores ranges). The whole file is
checked against the record's sha256 (md5 when it has none) and only then renamed to
``<cache>/<filename>``, where it stays, as in conda's cache (the fetching itself is
:mod:`ophis.client.verified_download`, shared with ``ophis mirror``). ``file://`` archives are
checked and extracted where they are. Extraction goes through
:func:`ophis.core.package_file.extract_package`, which refuses hostile archives.
Credentials (``url_rewrites``) go into request URLs only; messages name the clean URL.

While it fills the cache this module holds rattler's cache-wide lock (``flock`` on
``<cache>/.cache.lock``, which ``rattler.install`` holds for a whole install), so another
process's install never sees a half-written entry.
"""

from __future__ import annotations

import contextlib
import json
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import rattler

from ophis.client.verified_download import (
    FileDownload,
    download_client,
    download_verified,
    expected_digest,
    file_digest,
)
from ophis.core.atomic_file import write_atomic
from ophis.core.errors import TransactionError
from ophis.core.file_lock import file_lock
from ophis.manager.records import checked_records, record_dump

if TYPE_CHECKING:
    import httpx

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: rattler locks with LockFileEx there
    fcntl = None  # type: ignore[assignment]

#: downloads running at the same time
MAX_PARALLEL = 5
#: the progress stage whose numbers are bytes
DOWNLOAD_STAGE = "download"
_REVISION = struct.Struct(">Q")
_CACHE_LOCK = ".cache.lock"
_TIMEOUT_SECONDS = 60.0

Progress = Callable[[str, int, int], None]


def cache_stem(record: rattler.PackageRecord) -> str:
    """The cache folder's name as rattler keys it: ``<name>-<version>-<build>``."""
    return f"{record.name.normalized}-{record.version}-{record.build}"


def is_cached(record: rattler.RepoDataRecord, cache_dir: Path) -> bool:
    """Whether rattler will link ``record`` from ``cache_dir`` without fetching it."""
    stem = cache_stem(record)
    if not (cache_dir / stem / "info" / "index.json").is_file():
        return False
    recorded = _lock_sha256(cache_dir / f"{stem}.lock")
    return recorded is None or record.sha256 is None or recorded == bytes(record.sha256)


def fill_cache(
    records: Iterable[rattler.RepoDataRecord],
    cache_dir: Path,
    *,
    url_rewrites: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    max_parallel: int = MAX_PARALLEL,
    verify: bool | str = True,
) -> None:
    """Put every record's package, extracted, into ``cache_dir``.

    ``progress`` gets ``("download", bytes done, bytes total)`` and ``("extract", packages
    done, packages total)``. Packages from channels other than http(s):// and file:// are
    left for rattler to fetch. Raises TransactionError when a download fails or does not
    match its record, InvalidPackageError when an archive is unsafe to extract.
    """
    checked = checked_records(records)
    wanted = [r for r in checked if _fillable(r) and not is_cached(r, cache_dir)]
    if not wanted:
        return
    cache_dir.mkdir(parents=True, exist_ok=True)
    # the archive reader, loaded only when something is extracted, and before the worker
    # threads start: loading it reads the umask, which means setting it for a moment
    import ophis.core.package_file  # noqa: F401

    with _cache_lock(cache_dir):
        jobs = [_Job.of(r, cache_dir, url_rewrites or {}) for r in wanted]
        jobs = [j for j in jobs if not is_cached(j.record, cache_dir)]  # another process did
        meter = _Meter(progress, sum(j.download_size() for j in jobs), len(jobs))
        _run_parallel(jobs, meter, max_parallel, verify)


def _fillable(record: rattler.RepoDataRecord) -> bool:
    return urlsplit(str(record.url)).scheme in ("http", "https", "file")


@dataclass(frozen=True)
class _Job:
    record: rattler.RepoDataRecord
    url: str  #: the record's URL, without credentials: the one to show
    request_url: str  #: with the channel's credentials
    archive: Path  #: where the archive is (file://) or goes (http)
    folder: Path  #: the extracted package
    lock: Path  #: rattler's lock file for the folder
    remote: bool

    @classmethod
    def of(
        cls, record: rattler.RepoDataRecord, cache_dir: Path, rewrites: Mapping[str, str]
    ) -> _Job:
        url = str(record.url)
        parts = urlsplit(url)
        remote = parts.scheme in ("http", "https")
        stem = cache_stem(record)
        return cls(
            record=record,
            url=url,
            request_url=_with_credentials(url, rewrites),
            archive=cache_dir / record.file_name if remote else Path(unquote(parts.path)),
            folder=cache_dir / stem,
            lock=cache_dir / f"{stem}.lock",
            remote=remote,
        )

    @property
    def size(self) -> int | None:
        return self.record.size

    def download_size(self) -> int:
        """Bytes to download, as far as the record tells (0 for a local or cached archive)."""
        if self.remote and not self.archive.is_file():
            return self.size or 0
        return 0

    def expected(self) -> tuple[str, str] | None:
        """(algorithm, hex digest) the archive must have: sha256, else md5, else nothing."""
        sha256, md5 = self.record.sha256, self.record.md5
        return expected_digest(bytes(sha256) if sha256 else None, bytes(md5) if md5 else None)


def _with_credentials(url: str, rewrites: Mapping[str, str]) -> str:
    for clean, target in sorted(rewrites.items(), key=lambda item: -len(item[0])):
        if url.startswith(clean):
            return target + url[len(clean) :]
    return url


class _Meter:
    """Progress from the worker threads: bytes downloaded and packages extracted."""

    def __init__(self, progress: Progress | None, total_bytes: int, packages: int) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._bytes = 0
        self._total = total_bytes
        self._extracted = 0
        self._packages = packages

    def add_total(self, size: int) -> None:
        with self._lock:
            self._total += size

    def advance(self, size: int) -> None:
        with self._lock:
            self._bytes += size
            self._report(DOWNLOAD_STAGE, self._bytes, max(self._total, self._bytes))

    def extracted(self) -> None:
        with self._lock:
            self._extracted += 1
            self._report("extract", self._extracted, self._packages)

    def _report(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(stage, done, total)


def _run_parallel(jobs: list[_Job], meter: _Meter, max_parallel: int, verify: bool | str) -> None:
    stop = threading.Event()
    with download_client(_TIMEOUT_SECONDS, verify) as client:
        pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="ophis-fetch")
        try:
            futures = [pool.submit(_fill_one, client, job, meter, stop) for job in jobs]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failures = [f.exception() for f in done if f.exception() is not None]
            if failures:
                raise failures[0]  # type: ignore[misc]
        finally:
            stop.set()  # on a failure or Ctrl-C the other downloads stop at their next chunk
            pool.shutdown(wait=True, cancel_futures=True)


def _fill_one(client: httpx.Client, job: _Job, meter: _Meter, stop: threading.Event) -> None:
    try:
        if job.remote:
            _download(client, job, meter, stop)
        else:
            _verify_local(job)
        _extract(job)
    except OSError as error:
        raise TransactionError(
            f"Could not put {job.url} into the package cache {job.folder.parent}: {error}",
            "Check that the package cache is writable and has free space, then run the "
            "command again.",
        ) from None
    meter.extracted()


# --- downloading ---------------------------------------------------------------------------


def _download(client: httpx.Client, job: _Job, meter: _Meter, stop: threading.Event) -> None:
    """Make ``job.archive`` a verified copy of the package, resuming a partial download."""
    item = FileDownload(job.url, job.request_url, job.archive, job.size, job.expected())
    # on a failure elsewhere it raises Stopped, keeping its partial file for next time
    download_verified(
        client, item, meter.advance, stop, error=TransactionError, refetch=meter.add_total
    )


# --- checking and extracting ---------------------------------------------------------------


def _verify_local(job: _Job) -> None:
    expected = job.expected()
    if not job.archive.is_file():
        raise TransactionError(
            f"The package file {job.archive} ({job.url}) does not exist.",
            "The channel's index names a file the channel folder lacks: re-index the channel "
            "with 'ophis index', or tell its owner.",
        )
    size = job.archive.stat().st_size
    if job.size is not None and size != job.size:
        raise TransactionError(
            f"The package file {job.archive} is {size} bytes, but its channel's index says "
            f"{job.size} bytes.",
            "Re-index the channel with 'ophis index', or tell its owner.",
        )
    if expected is not None and (actual := _digest(job.archive, job)) != expected[1]:
        raise TransactionError(
            f"The package file {job.archive} does not match its channel's index: expected "
            f"{expected[0]} {expected[1]}, got {actual}.",
            "Re-index the channel with 'ophis index', or tell its owner.",
        )


def _digest(path: Path, job: _Job) -> str:
    expected = job.expected()
    return file_digest(path, expected[0] if expected else "sha256")


def _extract(job: _Job) -> None:
    """Extract the archive as rattler's cache folder, then give rattler its sha256."""
    from ophis.core.package_file import extract_package, remove_tree  # see fill_cache

    if job.folder.is_symlink():
        job.folder.unlink()
    elif job.folder.exists():
        remove_tree(job.folder)  # a stale or damaged entry
    extract_package(job.archive, job.folder)
    _record_for_other_tools(job)
    revision = _lock_revision(job.lock) + 1
    sha256 = bytes(job.record.sha256) if job.record.sha256 else b""
    write_atomic(job.lock, _REVISION.pack(revision) + sha256)


def _record_for_other_tools(job: _Job) -> None:
    """What conda and mamba read when they share this cache: the record beside the package
    (``info/repodata_record.json``) and, for a download, its URL in ``urls.txt``."""
    record = json.dumps(record_dump(job.record), indent=2, sort_keys=True)
    write_atomic(job.folder / "info" / "repodata_record.json", record.encode("utf-8"))
    if job.remote:
        cache = job.folder.parent
        (cache / "urls").touch()
        with (cache / "urls.txt").open("a", encoding="utf-8") as urls:
            urls.write(job.url + "\n")  # one short O_APPEND write: whole, whoever else writes


def _lock_bytes(lock: Path) -> bytes:
    try:
        return lock.read_bytes()
    except OSError:
        return b""


def _lock_revision(lock: Path) -> int:
    data = _lock_bytes(lock)
    return _REVISION.unpack(data[: _REVISION.size])[0] if len(data) >= _REVISION.size else 0


def _lock_sha256(lock: Path) -> bytes | None:
    data = _lock_bytes(lock)
    return data[_REVISION.size : _REVISION.size + 32] if len(data) >= _REVISION.size + 32 else None


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """rattler's cache-wide lock, held while entries are written."""
    with file_lock(cache_dir / _CACHE_LOCK, mode=0o666):
        yield
