"""How fast ``ophis mirror`` is, and how little a re-sync fetches.

Builds an indexed channel of N small generated packages (default 5,000; 70 % noarch,
30 % linux-64), serves it from a static file server on 127.0.0.1, then measures:

  baseline    -- a plain parallel httpx download of the same files (same thread count)
  first sync  -- ``mirror`` into an empty folder (repodata, download, verify, publish)
  re-sync     -- after 10 upstream changes (4 added, 3 removed, 3 replaced), ``mirror``
                 again; its bytes are compared with the bytes of the changed files

Bytes are what the server sent (package files and repodata documents), counted from its
request log. Usage: python benchmarks/mirror.py [--count 5000] [--parallel 8] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import httpx

from ophis.indexer.channel_index import IndexOptions, index_channel
from ophis.mirror.destinations import LocalChannelDestination
from ophis.mirror.plan import records_of
from ophis.mirror.sync import MirrorOptions, mirror
from ophis.testing.http import StaticServer, serve_directory
from ophis.testing.packages import make_package

VERSIONS_PER_NAME = 5
SUBDIRS = ("noarch", "linux-64")
INDEX = IndexOptions(write_bz2=False, write_current_repodata=False)


def _make(job: tuple[str, int, str]) -> Path:
    root, i, seed = job
    name, version = f"pkg{i // VERSIONS_PER_NAME:05d}", f"1.{i % VERSIONS_PER_NAME}"
    subdir = "linux-64" if i % 10 < 3 else "noarch"
    payload = random.Random(f"{i}-{seed}").randbytes(1_000)  # incompressible: real bytes
    folder = Path(root) / subdir
    folder.mkdir(parents=True, exist_ok=True)
    return make_package(folder, name, version, "0", subdir=subdir, files={"data.bin": payload})


def build_channel(root: Path, count: int) -> None:
    for subdir in SUBDIRS:
        (root / subdir).mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor() as pool:
        list(pool.map(_make, [(str(root), i, "0") for i in range(count)], chunksize=200))
    index_channel(root, INDEX)


def change_ten(root: Path, count: int) -> int:
    """4 added, 3 removed, 3 replaced (same file name, new content); the bytes to fetch."""
    for i in range(count, count + 4):
        _make((str(root), i, "0"))
    for i in (10, 20, 40):  # noarch files
        _file(root, i).unlink()
    for i in (50, 60, 70):  # new content under the old name: a rebuilt upload
        os.replace(_make((str(root.parent / "replacements"), i, "replaced")), _file(root, i))
    index_channel(root, INDEX)
    later = time.time() + 2  # Last-Modified counts seconds: make the change visible
    for path in root.glob("*/repodata*"):
        os.utime(path, (later, later))
    changed = [_file(root, i) for i in (*range(count, count + 4), 50, 60, 70)]
    return sum(p.stat().st_size for p in changed)


def _file(root: Path, i: int) -> Path:
    name, version = f"pkg{i // VERSIONS_PER_NAME:05d}", f"1.{i % VERSIONS_PER_NAME}"
    subdir = "linux-64" if i % 10 < 3 else "noarch"
    return root / subdir / f"{name}-{version}-0.tar.bz2"


def served_bytes(root: Path, server: StaticServer, since: int) -> int:
    """What the server sent after request number ``since`` (bodies of 200 answers)."""
    total = 0
    for path, status in server.requests[since:]:
        file = root / path.lstrip("/")
        if status == 200 and file.is_file():
            total += file.stat().st_size
    return total


def baseline(url: str, root: Path, target: Path, parallel: int) -> tuple[float, int]:
    """A plain parallel download of every package file: no verification, no repodata."""
    names = [
        f"{subdir}/{fn}"
        for subdir in SUBDIRS
        for fn in records_of(_json(root / subdir / "repodata.json"))
    ]
    target.mkdir(parents=True)
    started = time.perf_counter()
    with httpx.Client() as client, ThreadPoolExecutor(parallel) as pool:

        def get(name: str) -> int:
            body = client.get(f"{url}/{name}").content
            (target / name.replace("/", "__")).write_bytes(body)
            return len(body)

        received = sum(pool.map(get, names))
    return time.perf_counter() - started, received


def _json(path: Path) -> dict:
    import orjson

    return orjson.loads(path.read_bytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--parallel", type=int, default=8)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as temporary:
        run(Path(temporary), args.count, args.parallel)


def run(work: Path, count: int, parallel: int) -> None:
    upstream, dest = work / "upstream", work / "mirror"
    started = time.perf_counter()
    build_channel(upstream, count)
    print(f"built and indexed {count} packages in {time.perf_counter() - started:.1f} s")
    options = MirrorOptions(subdirs=SUBDIRS, max_parallel=parallel)
    with serve_directory(upstream) as server:
        base_seconds, base_bytes = baseline(server.url, upstream, work / "plain", parallel)
        mark = len(server.requests)
        report = mirror(server.url, LocalChannelDestination(dest), options)
        first_bytes = served_bytes(upstream, server, mark)
        assert not report.failures, report.failures
        changed_bytes = change_ten(upstream, count)
        mark = len(server.requests)
        resync = mirror(server.url, LocalChannelDestination(dest), options)
        resync_bytes = served_bytes(upstream, server, mark)
        resync_files = sum(
            (upstream / p.lstrip("/")).stat().st_size
            for p, s in server.requests[mark:]
            if s == 200 and p.endswith(".tar.bz2")
        )
    for subdir in SUBDIRS:
        mirrored = records_of(_json(dest / subdir / "repodata.json"))
        assert mirrored == records_of(_json(upstream / subdir / "repodata.json")), subdir
    files = len(report.fetched)
    print(f"baseline: plain parallel httpx download  {base_seconds:7.2f} s  {base_bytes:>11,} B")
    print(
        f"first sync: ophis mirror ({files} files)  {report.seconds:7.2f} s  {first_bytes:>11,} B"
        f"   time x{report.seconds / base_seconds:.2f} of baseline"
    )
    print(
        f"re-sync after 10 changes ({len(resync.fetched)} fetched, "
        f"{sum(len(p.remove) for p in resync.plans)} removed)  {resync.seconds:7.2f} s  "
        f"{resync_bytes:>11,} B (package files {resync_files:,} B, repodata and shards "
        f"{resync_bytes - resync_files:,} B)"
    )
    print(
        f"re-sync: package bytes / changed files' bytes {resync_files / changed_bytes:.2f}; "
        f"all bytes / changed files' bytes {resync_bytes / changed_bytes:.2f}; "
        f"all bytes / first sync's {resync_bytes / first_bytes:.4f}"
    )


if __name__ == "__main__":
    main()
