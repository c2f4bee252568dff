"""Index a channel directory: ``<channel>/<subdir>/*.conda|*.tar.bz2`` into repodata.

Why not ``rattler.index.index_fs``: it skips subdirs it does not know (conda's test
channels use ``linux-fake``), writes no channeldata.json, current_repodata.json or
run_exports.json, does not apply a subdir's ``patch_instructions.json``, and keeps no
per-file cache that channeldata could be rebuilt from. The documents themselves are built
by ``ophis.core``; this module does the file-system work around them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ophis.core import repodata as rd
from ophis.core.channeldata import ChanneldataEntry, build_channeldata, package_facts
from ophis.core.errors import (
    ChannelIndexError,
    InvalidPackageError,
    InvalidPlatformError,
    OphisError,
)
from ophis.core.package_file import PACKAGE_EXTENSIONS, PackageContents, read_package
from ophis.core.platform import parse_subdir
from ophis.core.shards import SHARDS_DIR, SHARDS_INDEX, build_shards, shard_filename
from ophis.indexer.cache import CachedPackage, IndexCache
from ophis.indexer.html import render_channel_index, render_subdir_index
from ophis.indexer.output import write_atomic, write_with_twins
from ophis.indexer.patches import PatchSource, find_patch_source

#: (file being read, files read so far, files to read)
ProgressCallback = Callable[[str, int, int], None]

#: below this many files to read, a process pool costs more than it saves
_POOL_THRESHOLD = 64
#: threads compressing and writing a subdir's files
_WRITERS = 4


@dataclass(frozen=True)
class IndexOptions:
    subdirs: tuple[str, ...] = ()  #: only these subdirs (all when empty); noarch always
    channel_name: str | None = None  #: defaults to the directory's name
    patch_package: str | None = None  #: a repodata-patches package: file path or name
    write_zst: bool = True
    write_bz2: bool = True
    write_shards: bool = True
    write_current_repodata: bool = True
    force: bool = False  #: re-read every package and rewrite every file
    workers: int | None = None


@dataclass
class SubdirSummary:
    subdir: str
    packages: int = 0
    read: int = 0
    reused: int = 0
    removed: int = 0
    rejected: int = 0
    written: bool = False


@dataclass(frozen=True)
class RejectedPackage:
    subdir: str
    filename: str
    error: str


@dataclass
class IndexSummary:
    channel: str
    subdirs: list[SubdirSummary] = field(default_factory=list)
    rejected: list[RejectedPackage] = field(default_factory=list)
    patches: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "success": True,
            "channel": self.channel,
            "subdirs": [asdict(s) for s in self.subdirs],
            "packages": sum(s.packages for s in self.subdirs),
            "read": sum(s.read for s in self.subdirs),
            "rejected": [asdict(r) for r in self.rejected],
            "patches": self.patches,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Stat:
    filename: str
    mtime_ns: int
    size: int


def index_channel(
    channel_dir: str | os.PathLike[str],
    options: IndexOptions = IndexOptions(),
    progress: ProgressCallback | None = None,
) -> IndexSummary:
    """Index ``channel_dir`` in place and say what was done."""
    started = time.perf_counter()
    root = _channel_root(channel_dir)
    summary = IndexSummary(channel=str(root))
    subdirs = _subdirs(root, options.subdirs)
    with IndexCache.for_channel(root) as cache:
        packages = _refresh_cache(root, cache, subdirs, options, summary, progress)
        patches = find_patch_source(
            root, packages["noarch"], options.patch_package, options.channel_name
        )
        summary.patches = patches.description if patches else None
        with ThreadPoolExecutor(max_workers=_WRITERS) as writers:
            for subdir in subdirs:
                _write_subdir(
                    root, subdir, cache, packages[subdir], patches, options, summary, writers
                )
        if options.force or any(s.written for s in summary.subdirs) or _missing_channel_files(root):
            _write_channel_files(root, options, cache, packages)
    summary.seconds = time.perf_counter() - started
    return summary


def _channel_root(channel_dir: str | os.PathLike[str]) -> Path:
    root = Path(channel_dir).expanduser().resolve()
    if not root.is_dir():
        raise ChannelIndexError(
            f"'{channel_dir}' is not a directory.",
            "Pass the channel's directory: the folder that holds noarch/ and the platform "
            "subdirs (linux-64/, osx-arm64/, ...).",
        )
    return root


def _subdirs(root: Path, wanted: Iterable[str]) -> list[str]:
    wanted = set(wanted)
    for name in wanted:
        if not is_subdir_name(name):
            raise ChannelIndexError(
                f"'{name}' is not a conda subdir.", "Use names like noarch, linux-64, osx-arm64."
            )
    chosen = wanted or _subdirs_on_disk(root)
    chosen.add("noarch")  # conda requires every channel to have noarch, even empty
    for name in chosen:
        (root / name).mkdir(exist_ok=True)
    return sorted(chosen)


def _subdirs_on_disk(root: Path) -> set[str]:
    return {p.name for p in root.iterdir() if p.is_dir() and is_subdir_name(p.name)}


def is_subdir_name(name: str) -> bool:
    try:
        parse_subdir(name)
    except InvalidPlatformError:
        return False
    return True


def _stat_packages(subdir_path: Path) -> dict[str, _Stat]:
    stats: dict[str, _Stat] = {}
    with os.scandir(subdir_path) as entries:
        for entry in entries:
            if entry.name.endswith(PACKAGE_EXTENSIONS) and entry.is_file():
                st = entry.stat()
                stats[entry.name] = _Stat(entry.name, st.st_mtime_ns, st.st_size)
    return stats


# --- reading packages ----------------------------------------------------------------------


def _refresh_cache(
    root: Path,
    cache: IndexCache,
    subdirs: list[str],
    options: IndexOptions,
    summary: IndexSummary,
    progress: ProgressCallback | None,
) -> dict[str, dict[str, CachedPackage]]:
    """Read new and changed files, forget deleted ones; return each subdir's packages."""
    packages: dict[str, dict[str, CachedPackage]] = {}
    to_read: list[tuple[str, _Stat]] = []
    for subdir in subdirs:
        stats = _stat_packages(root / subdir)
        known = cache.packages(subdir)
        fresh = [s for s in stats.values() if options.force or _changed(known.get(s.filename), s)]
        gone = [name for name in known if name not in stats]
        for name in gone:
            del known[name]
        cache.replace(subdir, [], gone)
        packages[subdir] = known
        to_read.extend((subdir, s) for s in fresh)
        summary.subdirs.append(
            SubdirSummary(
                subdir, read=len(fresh), reused=len(stats) - len(fresh), removed=len(gone)
            )
        )

    results = _read_all(root, to_read, options.workers, progress)
    for (subdir, stat), outcome in zip(to_read, results, strict=True):
        if isinstance(outcome, str):
            summary.rejected.append(RejectedPackage(subdir, stat.filename, outcome))
            packages[subdir].pop(stat.filename, None)
        else:
            packages[subdir][stat.filename] = _to_cache_row(stat, outcome)
    for subdir_summary in summary.subdirs:
        subdir = subdir_summary.subdir
        fresh_names = {stat.filename for d, stat in to_read if d == subdir}
        rejected = {r.filename for r in summary.rejected if r.subdir == subdir}
        subdir_summary.rejected = len(rejected)
        cache.replace(
            subdir,
            [packages[subdir][name] for name in fresh_names - rejected],
            sorted(rejected),
        )
    return packages


def _changed(known: CachedPackage | None, stat: _Stat) -> bool:
    return known is None or known.mtime_ns != stat.mtime_ns or known.size != stat.size


def _read_all(
    root: Path,
    to_read: list[tuple[str, _Stat]],
    workers: int | None,
    progress: ProgressCallback | None,
) -> list[PackageContents | str]:
    jobs = [(str(root / subdir / stat.filename), subdir) for subdir, stat in to_read]
    total = len(jobs)
    if total < _POOL_THRESHOLD or workers == 1:
        outcomes = (_read_one(job) for job in jobs)
        return _with_progress(outcomes, to_read, progress, total)
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count()) as pool:
        outcomes = pool.map(_read_one, jobs, chunksize=max(1, min(64, total // 32)))
        return _with_progress(outcomes, to_read, progress, total)


def _with_progress(
    outcomes: Iterable[PackageContents | str],
    to_read: list[tuple[str, _Stat]],
    progress: ProgressCallback | None,
    total: int,
) -> list[PackageContents | str]:
    results = []
    for done, outcome in enumerate(outcomes, start=1):
        results.append(outcome)
        if progress:
            progress(to_read[done - 1][1].filename, done, total)
    return results


def _read_one(job: tuple[str, str]) -> PackageContents | str:
    path, subdir = job
    try:
        return read_package(path, subdir=subdir)
    except InvalidPackageError as error:
        return error.message
    except OphisError as error:  # any other domain error still only rejects this file
        return str(error)


def _to_cache_row(stat: _Stat, contents: PackageContents) -> CachedPackage:
    facts = package_facts(
        contents.index["name"], contents.about, contents.paths, contents.run_exports
    )
    return CachedPackage(stat.filename, stat.mtime_ns, stat.size, contents.repodata_record(), facts)


# --- writing a subdir ----------------------------------------------------------------------


def _write_subdir(
    root: Path,
    subdir: str,
    cache: IndexCache,
    packages: dict[str, CachedPackage],
    patches: PatchSource | None,
    options: IndexOptions,
    summary: IndexSummary,
    writers: ThreadPoolExecutor,
) -> None:
    subdir_summary = next(s for s in summary.subdirs if s.subdir == subdir)
    subdir_summary.packages = len(packages)
    from_package = patches.instructions(subdir) if patches else None
    instructions = from_package or _local_patch(root / subdir)
    fingerprint = _fingerprint(packages, instructions, options)
    path = root / subdir
    if (
        not options.force
        and cache.fingerprint(subdir) == fingerprint
        and (path / "repodata.json").exists()
    ):
        return

    raw = rd.build_repodata(subdir, {fn: p.record for fn, p in packages.items()})
    patched = rd.apply_patch_instructions(raw, instructions) if instructions else raw
    # Compression releases the GIL: the files are compressed and written in parallel.
    jobs = [
        writers.submit(write_with_twins, path / "repodata_from_packages.json", rd.dumps(raw)),
        writers.submit(
            write_with_twins,
            path / "repodata.json",
            rd.dumps(patched),
            zst=options.write_zst,
            bz2_twin=options.write_bz2,
        ),
    ]
    if options.write_shards:
        jobs.append(writers.submit(_write_shards, path, patched))
    if options.write_current_repodata:
        current = rd.dumps(rd.build_current_repodata(patched))
        jobs.append(writers.submit(write_with_twins, path / "current_repodata.json", current))
    run_exports = {
        fn: p.facts["run_exports"] for fn, p in packages.items() if p.facts["run_exports"]
    }
    run_exports_json = rd.dumps(rd.build_run_exports(subdir, run_exports))
    jobs.append(
        writers.submit(
            write_with_twins, path / "run_exports.json", run_exports_json, zst=options.write_zst
        )
    )
    page = render_subdir_index(_channel_name(root, options), patched)
    jobs.append(writers.submit(write_atomic, path / "index.html", page))
    for job in jobs:
        job.result()  # re-raises a failed write
    cache.set_fingerprint(subdir, fingerprint)
    subdir_summary.written = True


def _local_patch(subdir_path: Path) -> dict[str, Any] | None:
    patch_file = subdir_path / "patch_instructions.json"
    if not patch_file.is_file():
        return None
    try:
        return json.loads(patch_file.read_bytes())
    except ValueError as error:
        raise ChannelIndexError(
            f"{patch_file} is not valid JSON: {error}",
            "Fix or remove the file; it holds the repodata hotfixes for this subdir.",
        ) from error


def _fingerprint(
    packages: dict[str, CachedPackage], instructions: dict[str, Any] | None, options: IndexOptions
) -> str:
    digest = hashlib.sha256()
    for name in sorted(packages):
        p = packages[name]
        digest.update(f"{name}\0{p.mtime_ns}\0{p.size}\n".encode())
    digest.update(json.dumps(instructions, sort_keys=True).encode())
    outputs = (options.write_zst, options.write_bz2, options.write_shards)
    digest.update(repr((outputs, options.write_current_repodata, options.channel_name)).encode())
    return digest.hexdigest()


def _write_shards(subdir_path: Path, repodata: dict[str, Any]) -> None:
    sharded = build_shards(repodata)
    shards_dir = subdir_path / SHARDS_DIR
    shards_dir.mkdir(exist_ok=True)
    existing = {p.name for p in shards_dir.iterdir()}
    for digest, body in sharded.shards.items():
        if shard_filename(digest) not in existing:  # content-addressed: present means equal
            write_atomic(shards_dir / shard_filename(digest), body)
    write_atomic(subdir_path / SHARDS_INDEX, sharded.index)
    wanted = {shard_filename(d) for d in sharded.shards}
    for stale in existing - wanted:
        (shards_dir / stale).unlink(missing_ok=True)


# --- channel-wide files --------------------------------------------------------------------


def _missing_channel_files(root: Path) -> bool:
    return not (root / "channeldata.json").exists() or not (root / "index.html").exists()


def _write_channel_files(
    root: Path,
    options: IndexOptions,
    cache: IndexCache,
    packages: dict[str, dict[str, CachedPackage]],
) -> None:
    subdirs = _subdirs_on_disk(root)
    entries = [
        ChanneldataEntry(subdir, package.record, package.facts)
        for subdir in subdirs
        for package in (packages[subdir] if subdir in packages else cache.packages(subdir)).values()
    ]
    channeldata = build_channeldata(entries, subdirs)
    write_atomic(root / "channeldata.json", rd.dumps(channeldata))
    write_atomic(
        root / "index.html", render_channel_index(_channel_name(root, options), channeldata)
    )


def _channel_name(root: Path, options: IndexOptions) -> str:
    return options.channel_name or root.name
