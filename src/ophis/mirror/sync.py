"""``ophis mirror``: bring a destination up to date with an upstream channel.

One run: read upstream's repodata for each subdir (through the client's repodata cache,
kept in the destination's work folder, so an unchanged upstream answers 304 to its ETag),
plan each subdir (:mod:`ophis.mirror.plan`), download what is missing — in parallel,
resumable, each file checked against the sha256 (else md5) and size upstream's repodata
gives — into a staging folder, and hand each subdir to the destination to publish
(:mod:`ophis.mirror.destinations`).

A file that fails its check is fetched again (``retries`` times) and then reported; it is
never published: its record is left out of the mirror's repodata (or, if the mirror held
an older verified copy under that name, the old record is kept). A run that is killed
leaves the published repodata as it was, and staged or partial files that the next run
reuses (partial downloads continue with a Range request).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import httpx
import orjson

from ophis.client.address_guard import refusal
from ophis.client.auth import with_stored_tokens
from ophis.client.repodata_cache import FetchOptions, fetch_all, fetch_shards_index
from ophis.client.sharded_repodata import ShardedSubdir
from ophis.client.verified_download import (
    FileDownload,
    Stopped,
    TransportFactory,
    download_client,
    download_verified,
    expected_digest,
    file_digest,
)
from ophis.core.channel import Channel, ChannelContext, parse_channel
from ophis.core.errors import ChannelError, InvalidPackageError, OphisError
from ophis.core.file_lock import file_lock
from ophis.core.package_file import validate_package
from ophis.core.paths import check_record_fields
from ophis.core.platform import parse_subdir
from ophis.core.shards import read_shards_index, shard_filename
from ophis.mirror.destinations import Destination, MirrorError
from ophis.mirror.plan import Filters, Record, SubdirPlan, plan_subdir, records_of

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: the progress stage whose numbers are bytes
DOWNLOAD_STAGE = "download"
MAX_PARALLEL = 8
RETRIES = 2

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class MirrorOptions:
    subdirs: tuple[str, ...] = ()  #: empty: every subdir upstream announces
    filters: Filters = field(default_factory=Filters)
    keep_removed: bool = False
    dry_run: bool = False
    max_parallel: int = MAX_PARALLEL
    retries: int = RETRIES
    #: makes each HTTP client's transport (a server keeps its requests off its own
    #: network with one); None: httpx's own
    transport: TransportFactory | None = None


@dataclass(frozen=True)
class FileFailure:
    subdir: str
    filename: str
    error: str


@dataclass
class MirrorReport:
    source: str
    destination: str
    dry_run: bool
    plans: list[SubdirPlan] = field(default_factory=list)
    fetched: list[tuple[str, str]] = field(default_factory=list)
    bytes_received: int = 0
    failures: list[FileFailure] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "success": not self.failures,
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "files": len(self.fetched),
            "bytes": self.bytes_received,
            "seconds": round(self.seconds, 3),
            "removed": sum(len(p.remove) for p in self.plans),
            "patched": sum(len(p.patched) for p in self.plans),
            "failures": [f.__dict__ for f in self.failures],
            "subdirs": [_subdir_json(p) for p in self.plans],
        }
        if self.dry_run:
            document["fetch"] = [
                {"subdir": p.subdir, "filename": fn, "size": p.publish[fn].get("size")}
                for p in self.plans
                for fn in p.fetch
            ]
            document["bytes_to_fetch"] = sum(p.fetch_bytes for p in self.plans)
        return document


def _subdir_json(plan: SubdirPlan) -> dict[str, Any]:
    return {
        "subdir": plan.subdir,
        "packages": len(plan.publish),
        "fetch": len(plan.fetch),
        "fetch_bytes": plan.fetch_bytes,
        "remove": list(plan.remove),
        "patched": list(plan.patched),
        "unreadable": plan.unreadable,
    }


def upstream_channel(source: str, env: Mapping[str, str] = os.environ) -> Channel:
    """The upstream channel of a URL or folder, with a token stored by ``ophis login``
    when the URL carries none."""
    if "://" not in source:
        folder = Path(source).expanduser().absolute()
        if not folder.is_dir():
            raise ChannelError(
                f"The upstream channel folder {folder} does not exist.",
                "Give a channel URL (https://..., file://...) or an existing channel folder.",
            )
        source = folder.as_uri()
    channel = parse_channel(source.rstrip("/"), ChannelContext())
    if not isinstance(channel, Channel):  # pragma: no cover - a URL is never a multichannel
        raise ChannelError(f"'{source}' names several channels.", "Give one channel URL.")
    return with_stored_tokens([channel], env)[0]


def mirror(
    source: str,
    destination: Destination,
    options: MirrorOptions = MirrorOptions(),
    progress: Progress | None = None,
    env: Mapping[str, str] = os.environ,
) -> MirrorReport:
    """Make ``destination`` equal the filtered upstream channel ``source``."""
    started = time.perf_counter()
    channel = upstream_channel(source, env)
    report = MirrorReport(channel.redacted_url, destination.describe(), options.dry_run)
    subdirs = options.subdirs or discover_subdirs(channel, options.transport)
    with _work_dir(destination, options.dry_run) as work_dir:
        upstream = _fetch_upstream(
            channel, subdirs, work_dir, options.filters.exact_names(), options.transport
        )
        for document in upstream.values():
            for filename, record in records_of(document).items():
                check_record_fields(channel.redacted_url, filename, record)  # become paths
        for subdir in subdirs:
            report.plans.append(
                plan_subdir(
                    subdir,
                    upstream[subdir],
                    destination.current(subdir),
                    destination.present(subdir),
                    options.filters,
                    options.keep_removed,
                )
            )
        if not options.dry_run:
            _sync(channel, upstream, destination, options, report, progress)
    report.seconds = time.perf_counter() - started
    return report


@contextlib.contextmanager
def _work_dir(destination: Destination, dry_run: bool) -> Iterator[Path]:
    """The destination's work folder, held by this run alone; a dry run that finds none
    uses a temporary one, so that it leaves nothing behind."""
    if dry_run and not destination.work_dir.is_dir():
        with tempfile.TemporaryDirectory(prefix="ophis-mirror-") as temporary:
            yield Path(temporary)
        return
    destination.work_dir.mkdir(parents=True, exist_ok=True)
    with file_lock(destination.work_dir / "lock", mode=0o644, wait=False) as held:
        if not held:
            raise MirrorError(
                f"Another 'ophis mirror' is writing to {destination.describe()}.",
                "Wait for it to finish, then run this command again.",
            )
        yield destination.work_dir


def discover_subdirs(
    channel: Channel, transport: TransportFactory | None = None
) -> tuple[str, ...]:
    """The subdirs upstream has: its folders (file://), else its channeldata.json's list."""
    url = channel.url("noarch", with_token=True, with_auth=True).rsplit("/", 1)[0]
    if urlsplit(url).scheme == "file":
        root = Path(unquote(urlsplit(url).path))
        found = [p.parent.name for p in root.glob("*/repodata.json")]
    else:
        found = _channeldata_subdirs(url, channel, transport)
    valid = [s for s in found if _is_subdir(s)]
    return tuple(sorted(set(valid) | {"noarch"}))


def _channeldata_subdirs(
    url: str, channel: Channel, transport: TransportFactory | None
) -> list[str]:
    try:
        with download_client(60, transport=transport) as client:
            response = client.get(f"{url}/channeldata.json")
    except httpx.HTTPError as error:
        raise MirrorError(
            f"Could not reach {channel.redacted_url}: {refusal(error) or type(error).__name__}.",
            "Check the URL and your network, or name the subdirs with --subdir.",
        ) from None
    if response.status_code != 200:
        raise MirrorError(
            f"{channel.redacted_url} has no channeldata.json (HTTP {response.status_code}) "
            "listing its subdirs.",
            "Name the subdirs to mirror with --subdir (for example --subdir linux-64 "
            "--subdir noarch).",
        )
    return list(orjson.loads(response.content).get("subdirs") or [])


def _is_subdir(name: str) -> bool:
    try:
        parse_subdir(name)
    except OphisError:
        return False
    return True


def _fetch_upstream(
    channel: Channel,
    subdirs: tuple[str, ...],
    work_dir: Path,
    names: tuple[str, ...] | None,
    transport: TransportFactory | None,
) -> dict[str, dict[str, Any] | None]:
    """Each subdir's repodata, cached in ``work_dir`` and revalidated on every run.

    An HTTP upstream that offers CEP-16 shards is read through them: shards are
    content-addressed and kept, so a later run fetches the shard index (a 304 when nothing
    changed) and only the shards of the packages that changed. When the filters name the
    packages, only their shards (and those of what they depend on) are read. Elsewhere the
    whole ``repodata.json`` (``.zst`` first) is fetched, with its ETag."""
    options = FetchOptions(cache_dir=work_dir / "upstream", ttl_seconds=0, transport=transport)
    found: dict[str, dict[str, Any] | None] = {}
    if names is None and urlsplit(channel.base_url).scheme in ("http", "https"):
        found = _fetch_all_shards(channel, subdirs, options)
    rest = [s for s in subdirs if s not in found]
    for subdir in fetch_all([channel], rest, options, names=names) if rest else []:
        found[subdir.subdir] = orjson.loads(subdir.path.read_bytes()) if subdir.path else None
    return found


def _fetch_all_shards(
    channel: Channel, subdirs: tuple[str, ...], options: FetchOptions
) -> dict[str, dict[str, Any] | None]:
    """repodata of the subdirs that offer shards, read from every shard of their index."""
    found: dict[str, dict[str, Any] | None] = {}
    sources: list[ShardedSubdir] = []
    with (
        download_client(options.timeout_seconds, transport=options.transport) as client,
        ThreadPoolExecutor(options.max_workers) as pool,
    ):
        for subdir in subdirs:
            index = fetch_shards_index(client, channel, subdir, options)
            if index is None:
                continue
            source = ShardedSubdir(channel, subdir, index, options.cache_dir)
            source.load(client, list(source.shards), pool)
            info = {"subdir": subdir}
            base_url = read_shards_index(index.read_bytes()).get("info", {}).get("base_url")
            if base_url:  # CEP-16: where the package files are, relative to the subdir
                info["base_url"] = base_url
            found[subdir] = {"info": info, **source.records}
            sources.append(source)
    _prune_shards(options.cache_dir / "shards", sources)
    return found


def _prune_shards(folder: Path, sources: list[ShardedSubdir]) -> None:
    """Drop cached shards no index names any more (the cache would only grow)."""
    wanted = {shard_filename(d) for source in sources for d in source.shards.values()}
    for path in folder.glob("*.msgpack.zst"):
        if path.name not in wanted:
            path.unlink(missing_ok=True)


# --- downloading and publishing ------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    subdir: str
    filename: str
    record: Record
    item: FileDownload
    local_source: Path | None  #: the upstream file itself, for a file:// upstream


def _sync(
    channel: Channel,
    upstream: Mapping[str, dict[str, Any] | None],
    destination: Destination,
    options: MirrorOptions,
    report: MirrorReport,
    progress: Progress | None,
) -> None:
    staging = destination.work_dir / "staging"
    jobs: list[_Job] = []
    for plan in report.plans:
        base = _files_url(channel, plan.subdir, upstream[plan.subdir])
        for filename in plan.fetch:
            record = plan.publish[filename]
            expected = expected_digest(record.get("sha256"), record.get("md5"))
            if destination.holds(plan.subdir, filename, expected):
                continue  # moved in by a run killed before it published
            jobs.append(_job(plan.subdir, filename, record, base, staging))
    staged, failures = _download_all(jobs, options, report, progress)
    report.failures.extend(failures)
    failed = {(f.subdir, f.filename) for f in failures}
    for plan in report.plans:
        _publish(plan, destination, staged, failed)
    destination.finish([p.subdir for p in report.plans])
    _clean_staging(staging, {j.item.partial for j in jobs if (j.subdir, j.filename) in failed})


def _clean_staging(staging: Path, keep: set[Path]) -> None:
    """Drop what this run staged and did not publish (files the filters or upstream no
    longer want); keep the partial downloads of failed files, for the next run to resume."""
    if not staging.is_dir():
        return
    for path in staging.rglob("*"):
        if path.is_file() and path not in keep:
            path.unlink(missing_ok=True)


def _files_url(
    channel: Channel, subdir: str, repodata: Mapping[str, Any] | None
) -> tuple[str, str]:
    """(clean, with credentials) URL prefixes of the subdir's files (CEP-15 ``base_url``)."""
    clean = channel.url(subdir) + "/"
    secret = channel.url(subdir, with_token=True, with_auth=True) + "/"
    base_url = ((repodata or {}).get("info") or {}).get("base_url")
    if not base_url:
        return clean, secret
    relative = base_url.rstrip("/") + "/"
    return urljoin(clean, relative), urljoin(secret, relative)


def _job(subdir: str, filename: str, record: Record, base: tuple[str, str], staging: Path) -> _Job:
    url, request_url = base[0] + filename, base[1] + filename
    target = staging / subdir / filename
    size = int(record["size"]) if record.get("size") is not None else None
    expected = expected_digest(record.get("sha256"), record.get("md5"))
    item = FileDownload(url, request_url, target, size, expected)
    parts = urlsplit(request_url)
    local = Path(unquote(parts.path)) if parts.scheme == "file" else None
    return _Job(subdir, filename, record, item, local)


class _Meter:
    def __init__(self, progress: Progress | None, total: int, files: int) -> None:
        self._progress = progress or (lambda *_: None)
        self._lock = threading.Lock()
        self._bytes, self._total, self._files, self._done = 0, total, files, 0

    def advance(self, size: int) -> None:
        with self._lock:
            self._bytes += size
            self._progress(DOWNLOAD_STAGE, self._bytes, max(self._total, self._bytes))

    def add_total(self, size: int) -> None:
        with self._lock:
            self._total += size

    def file_done(self, filename: str) -> None:
        with self._lock:
            self._done += 1
            self._progress(filename, self._done, self._files)


def _download_all(
    jobs: list[_Job], options: MirrorOptions, report: MirrorReport, progress: Progress | None
) -> tuple[dict[tuple[str, str], Path], list[FileFailure]]:
    meter = _Meter(progress, sum(j.item.size or 0 for j in jobs), len(jobs))
    stop = threading.Event()
    staged: dict[tuple[str, str], Path] = {}
    failures: list[FileFailure] = []
    lock = threading.Lock()

    def run(job: _Job) -> None:
        received, error = _fetch_with_retries(client, job, meter, stop, options.retries)
        with lock:
            if error is None:
                staged[(job.subdir, job.filename)] = job.item.target
                report.fetched.append((job.subdir, job.filename))
                report.bytes_received += received
            else:
                failures.append(FileFailure(job.subdir, job.filename, error))
        meter.file_done(job.filename)

    with (
        download_client(transport=options.transport) as client,
        ThreadPoolExecutor(options.max_parallel) as pool,
    ):
        try:
            for future in [pool.submit(run, job) for job in jobs]:
                future.result()
        finally:
            stop.set()  # on Ctrl-C the other downloads stop at their next chunk
    return staged, failures


def _fetch_with_retries(
    client: httpx.Client, job: _Job, meter: _Meter, stop: threading.Event, retries: int
) -> tuple[int, str | None]:
    """(bytes received, None) once the file is staged and verified; (0, why) after the
    last attempt failed."""
    job.item.target.parent.mkdir(parents=True, exist_ok=True)
    message = ""
    for _attempt in range(1 + retries):
        try:
            resumed = _partial_size(job.item)
            if job.local_source is not None:
                _copy_verified(job, meter)
            else:
                download_verified(
                    client,
                    job.item,
                    meter.advance,
                    stop,
                    error=MirrorError,
                    refetch=meter.add_total,
                )
            _check_size(job)
        except Stopped:
            raise
        except (OphisError, OSError) as error:
            message = error.message if isinstance(error, OphisError) else str(error)
            continue
        try:  # a hostile package is not published; fetching it again would not help
            validate_package(job.item.target)
        except InvalidPackageError as error:
            job.item.target.unlink(missing_ok=True)
            return 0, error.message
        return max(0, (job.item.size or 0) - resumed), None
    return 0, message


def _partial_size(item: FileDownload) -> int:
    if item.target.is_file():
        return item.size or 0  # staged by an earlier run: nothing to receive
    try:
        return item.partial.stat().st_size
    except FileNotFoundError:
        return 0


def _copy_verified(job: _Job, meter: _Meter) -> None:
    """A file:// upstream: copy, then check, then move into the staging name."""
    item, expected = job.item, job.item.expected
    if item.target.is_file() and expected and file_digest(item.target, expected[0]) == expected[1]:
        return
    assert job.local_source is not None
    if not job.local_source.is_file():
        raise MirrorError(
            f"{item.url} does not exist.",
            "The upstream channel's index names a file it lacks: tell its owner.",
        )
    shutil.copyfile(job.local_source, item.partial)
    meter.advance(item.partial.stat().st_size)
    if expected is not None and (actual := file_digest(item.partial, expected[0])) != expected[1]:
        item.partial.unlink()
        raise MirrorError(
            f"{item.url} does not match its channel's index: expected {expected[0]} "
            f"{expected[1]}, got {actual}.",
            "It was not mirrored. Tell the upstream channel's owner.",
        )
    os.replace(item.partial, item.target)


def _check_size(job: _Job) -> None:
    size = job.item.target.stat().st_size
    if job.item.size is not None and size != job.item.size:
        job.item.target.unlink()
        raise MirrorError(
            f"{job.item.url} has {size} bytes; its channel's index says {job.item.size}.",
            "It was not mirrored. Tell the upstream channel's owner.",
        )


def _publish(
    plan: SubdirPlan,
    destination: Destination,
    staged: Mapping[tuple[str, str], Path],
    failed: set[tuple[str, str]],
) -> None:
    mine = {fn: path for (subdir, fn), path in staged.items() if subdir == plan.subdir}
    failures = {fn for subdir, fn in failed if subdir == plan.subdir}
    if not plan.changes_repodata and not mine and not failures:
        return  # nothing changed: the published files stay as they are, byte for byte
    records = dict(plan.publish)
    current = records_of(destination.current(plan.subdir))
    present = destination.present(plan.subdir)
    for filename in failures:  # never published; an older verified copy stays if there is one
        records.pop(filename, None)
        if filename in current and filename in present:
            records[filename] = current[filename]
    remove = [fn for fn in plan.remove if fn not in records]
    destination.publish(plan, records, mine, remove)
