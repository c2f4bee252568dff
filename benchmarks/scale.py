"""Repodata at channel scale: seeding, builds, serving under load, memory.

One run prints:
- seeding N package files across four subdirs of one owner (rows written the way an upload
  writes them -- package, release, file with its ``record`` and ``facts``, its label, the
  subdir's revision -- in bulk through SQLAlchemy, not N HTTP uploads);
- the build of each subdir document in-process (repodata.json and its companions), cold and
  after one more file, at the service layer;
- time to the first repodata.json of the biggest subdir from a started server (cold), after
  one more real HTTP upload (the incremental path), and warm;
- requests/s and latency with C concurrent clients against ``ophis server start --workers
  W`` for what benchmarks/server.py measures (repodata.json of the biggest subdir, plain
  and compressed as conda asks, a shard, a package file), and for the same bytes from its
  static file server (the ceiling), with the ratio of each;
- the resident memory of each server worker after serving the biggest repodata.json.

The load generator is minimal asyncio HTTP/1.1 (see benchmarks/server.py) spread over
client processes (``--client-processes``, default half the CPUs); it reads bodies in chunks
and drops them, and reopens a kept-alive connection the server closed while idle (counted
apart from errors). On a small machine it shares the CPUs with the server and the
database: the output says how many cores there were, and the ratio to the static file
server (the standard library's threading server, measured by the same clients) is the
figure to compare. ``--database-url`` must name an empty database; ``--postgres`` starts
a throwaway cluster (``ophis.testing.postgres``).
Usage: python benchmarks/scale.py [--packages 100000] [--clients 1000] [--workers 4]
       [--seconds 10] [--database-url postgresql+psycopg://... | --postgres] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, literal, select
from sqlalchemy.orm import Session

from ophis.client.upload import upload
from ophis.core.distribution_types import DistributionType
from ophis.core.repodata import build_repodata, dumps
from ophis.core.shards import SHARDS_INDEX
from ophis.server.context import ServerContext
from ophis.server.db.models import (
    Account,
    ChannelRevision,
    File,
    FileLabel,
    Label,
    Package,
    Release,
)
from ophis.server.services.accounts import accounts
from ophis.server.services.accounts.authz import ANONYMOUS
from ophis.server.services.catalog import files
from ophis.server.services.channels import repodata
from ophis.server.settings import ServerSettings
from ophis.testing.backends import Backend
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server
from server import Target, static_files, static_server, targets  # benchmarks/server.py

OWNER = "bench"
PASSWORD = "bench-password"
#: the share of the files each subdir gets: one big subdir, as real channels have
SUBDIRS = {"linux-64": 0.4, "osx-arm64": 0.25, "win-64": 0.2, "noarch": 0.15}
#: files per package name (versions x builds x formats), as in conda-forge's larger subdirs
FILES_PER_NAME = 8
_BATCH = 5000


@dataclass(frozen=True)
class Synthetic:
    """One seeded file: its subdir, name, version, filename and repodata record."""

    subdir: str
    name: str
    version: str
    filename: str
    record: dict[str, Any]


def synthetic_files(count: int, seed: int = 0) -> list[Synthetic]:
    """``count`` plausible records (deterministic): names with several versions and builds,
    dependencies on other names with version ranges, .conda and .tar.bz2 files."""
    rng = random.Random(seed)
    out: list[Synthetic] = []
    for subdir, share in SUBDIRS.items():
        wanted = max(1, round(count * share)) if subdir != "noarch" else count - len(out)
        names = max(1, wanted // FILES_PER_NAME)
        for i in range(wanted):
            out.append(_synthetic(rng, subdir, f"pkg{i % names:06d}", i // names))
    return out


def _synthetic(rng: random.Random, subdir: str, name: str, n: int) -> Synthetic:
    version = f"{n // 4}.{n % 4}.{rng.randrange(10)}"
    build_number = n % 2
    build = f"py312h{rng.getrandbits(28):07x}_{build_number}"
    ext = ".conda" if rng.random() < 0.7 else ".tar.bz2"
    filename = f"{name}-{version}-{build}{ext}"
    depends = sorted(
        {f"pkg{rng.randrange(1000):06d} >={rng.randrange(3)}.{rng.randrange(4)}" for _ in range(4)}
    )
    digest = hashlib.sha256(f"{subdir}/{filename}".encode()).hexdigest()
    record = {
        "build": build,
        "build_number": build_number,
        "depends": [*depends, "python >=3.12,<3.13.0a0"],
        "license": "BSD-3-Clause",
        "md5": digest[:32],
        "name": name,
        "sha256": digest,
        "size": rng.randrange(10_000, 5_000_000),
        "subdir": subdir,
        "timestamp": 1_700_000_000_000 + rng.randrange(10**9),
        "version": version,
    }
    return Synthetic(subdir, name, version, filename, record)


def seed(session: Session, owner: Account, files: list[Synthetic]) -> None:
    """The rows an upload writes for each file, in bulk: packages, releases, files, their
    ``main`` label, and one revision per subdir."""
    names = sorted({f.name for f in files})
    now = datetime.now(UTC)
    session.execute(
        insert(Package),
        [
            {"owner_id": owner.id, "name": n, "package_types": ["conda"], "modified_at": now}
            for n in names
        ],
    )
    package_ids = dict(
        session.execute(select(Package.name, Package.id).where(Package.owner_id == owner.id)).all()
    )
    releases = sorted({(package_ids[f.name], f.version) for f in files})
    for start in range(0, len(releases), _BATCH):
        chunk = releases[start : start + _BATCH]
        session.execute(insert(Release), [{"package_id": p, "version": v} for p, v in chunk])
    names_of = {i: n for n, i in package_ids.items()}
    release_ids = {
        (names_of[p], v): i
        for i, p, v in session.execute(
            select(Release.id, Release.package_id, Release.version)
            .join(Package, Package.id == Release.package_id)
            .where(Package.owner_id == owner.id)
        )
    }
    for start in range(0, len(files), _BATCH):
        rows = [_file_row(owner, release_ids, f) for f in files[start : start + _BATCH]]
        session.execute(insert(File), rows)
    main = session.scalar(select(Label.id).where(Label.owner_id == owner.id, Label.name == "main"))
    session.execute(
        insert(FileLabel).from_select(
            ["file_id", "label_id"],
            select(File.id, literal(main)).where(File.owner_id == owner.id),
        )
    )
    for subdir in SUBDIRS:
        session.add(ChannelRevision(owner_id=owner.id, label="main", subdir=subdir, revision=1))
    session.commit()


def _file_row(owner: Account, release_ids: dict[tuple[str, str], int], f: Synthetic) -> dict:
    record = f.record
    return {
        "release_id": release_ids[(f.name, f.version)],
        "owner_id": owner.id,
        "basename": f"{f.subdir}/{f.filename}",
        "distribution_type": "conda",
        "subdir": f.subdir,
        "filename": f.filename,
        "size": record["size"],
        "md5": record["md5"],
        "sha256": record["sha256"],
        "storage_key": f"blobs/{record['sha256'][:2]}/{record['sha256']}/{f.filename}",
        "attrs": {k: v for k, v in record.items() if k not in ("name", "version")},
        "record": record,
        "facts": {"about": {"summary": f"{f.name} for benchmarks"}, "run_exports": {}},
    }


# --- the service layer, in-process --------------------------------------------------------


def breakdown(context: ServerContext, subdir: str, workdir: Path) -> dict[str, Any]:
    """Seconds to build each document of ``subdir`` through the service layer with a cache
    of its own: cold, then after one more file (an upload's rows, ``files.record_file``),
    then after removing it again; and whether the incremental build is byte-identical to
    a from-scratch one."""
    cache = repodata.ChannelCache(workdir / "breakdown-cache")
    figures: dict[str, Any] = {"cold": _build_all(context, cache, subdir)}
    with context.sessions() as session:
        owner = accounts.get_account(session, OWNER)
        extra = _synthetic(random.Random(1), subdir, "scale-extra", 0)
        inspected = files.Inspected(
            distribution_type=DistributionType.CONDA,
            name=extra.name,
            version=extra.version,
            basename=f"{subdir}/{extra.filename}",
            filename=extra.filename,
            subdir=subdir,
            size=extra.record["size"],
            md5=extra.record["md5"],
            sha256=extra.record["sha256"],
            record=extra.record,
        )
        row = files.record_file(session, owner, inspected, "blobs/none")
        session.commit()
    figures["after_one_more_file"] = _build_all(context, cache, subdir)
    incremental = _fetch(context, cache, subdir, repodata.REPODATA).body
    figures["identical_to_from_scratch"] = incremental == _from_scratch(context, subdir)
    with context.sessions() as session:
        files.forget_file(session, session.get(File, row.id))
        session.commit()
    figures["after_removing_it"] = {
        repodata.REPODATA: _timed(lambda: _fetch(context, cache, subdir, repodata.REPODATA))
    }
    return figures


_DOCUMENTS = ("repodata.json", "repodata.json.zst", "current_repodata.json", SHARDS_INDEX)


def _build_all(context: ServerContext, cache: repodata.ChannelCache, subdir: str) -> dict:
    return {name: _timed(lambda n=name: _fetch(context, cache, subdir, n)) for name in _DOCUMENTS}


def _fetch(
    context: ServerContext, cache: repodata.ChannelCache, subdir: str, name: str
) -> repodata.Artifact:
    with context.sessions() as session:
        return repodata.subdir_document(session, cache, ANONYMOUS, OWNER, "main", subdir, name)


def _from_scratch(context: ServerContext, subdir: str) -> bytes:
    """The document as the server built it before entries were reused: every record decoded
    and the whole document encoded in one go."""
    with context.sessions() as session:
        owner = accounts.get_account(session, OWNER)
        query = repodata.visible_files(
            owner.id, "main", frozenset(), DistributionType.CONDA, File.filename, File.record
        ).where(File.subdir == subdir)
        records = {filename: record for filename, record in session.execute(query)}
        return dumps(build_repodata(subdir, records))


def _timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return round(time.perf_counter() - started, 4)


# --- the load generator --------------------------------------------------------------------

_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection: *close")


@dataclass
class Load:
    seconds: float
    latencies: list[float]  #: seconds per answered request
    errors: dict[str, int]  #: kind -> count (connections refused, reset, non-200 answers)
    clients: int
    #: idle kept-alive connections the server had closed, reopened for the next request
    reopened: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        if len(self.latencies) < 2:
            return (self.latencies or [0.0])[0] * 1000
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000

    def figures(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "requests": len(self.latencies),
            "errors": sum(self.errors.values()),
            "error_kinds": self.errors,
            "reopened_connections": self.reopened,
            "seconds": round(self.seconds, 2),
            "requests_per_second": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 1),
            "p99_ms": round(self.percentile(99), 1),
        }


async def _client(url: str, extra: str, deadline: float, budget: list[int], out: Load) -> None:
    """GETs in a row on one kept-alive connection until the deadline or the shared budget
    of requests is spent; the body is read and dropped in chunks (never held whole);
    ``extra``: more header lines."""
    target = httpx.URL(url)
    path, host = target.raw_path.decode(), target.netloc.decode()
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()
    connection: Connection | None = None
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        sent = time.perf_counter()
        try:
            connection, head = await _exchange(target, connection, request, out)
            match = _LENGTH.search(head)
            await _drain(connection[0], int(match.group(1)) if match else None)
        except (OSError, asyncio.IncompleteReadError, ConnectionError) as error:
            kind = f"{type(error).__name__}: {error}"[:80]
            out.errors[kind] = out.errors.get(kind, 0) + 1
            connection = _close(connection)
            continue
        out.latencies.append(time.perf_counter() - sent)
        if head.startswith(b"HTTP/1.0") or _CLOSE.search(head):
            connection = _close(connection)
    _close(connection)


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _exchange(
    target: httpx.URL, connection: Connection | None, request: bytes, out: Load
) -> tuple[Connection, bytes]:
    """Send the request and read the response head. A kept-alive connection the server
    closed while it was idle (uvicorn does after 5 s; under this load a client may take
    longer to read a response) is reopened and the request sent again, as HTTP clients
    do; counted apart from errors."""
    for attempt in range(2):
        reused = connection is not None
        if connection is None:
            connection = await asyncio.open_connection(target.host, target.port, limit=2**20)
        connection[1].write(request)
        try:
            head = await connection[0].readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as error:
            stale = not getattr(error, "partial", b"")
            if not (reused and stale and attempt == 0):
                raise
            out.reopened += 1
            connection = _close(connection)
            continue
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            raise ConnectionError(head.splitlines()[0].decode())
        return connection, head
    raise ConnectionError("unreachable")  # the second attempt returns or raises


def _close(connection: Connection | None) -> None:
    if connection is not None:
        connection[1].close()


async def _drain(reader: asyncio.StreamReader, length: int | None) -> None:
    if length is None:  # an HTTP/1.0 body runs to the end of the connection
        while await reader.read(2**20):
            pass
        return
    while length > 0:
        chunk = await reader.read(min(length, 2**20))
        if not chunk:
            raise asyncio.IncompleteReadError(b"", length)
        length -= len(chunk)


def _load_in_process(job: tuple[str, str, int, float, int]) -> Load:
    url, extra, clients, seconds, requests = job
    out = Load(0.0, [], {}, clients)

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        budget = [requests]
        await asyncio.gather(*(_client(url, extra, deadline, budget, out) for _ in range(clients)))

    started = time.perf_counter()
    asyncio.run(run())
    out.seconds = time.perf_counter() - started
    return out


def load(
    url: str,
    clients: int,
    seconds: float,
    requests: int,
    processes: int,
    headers: dict[str, str] | None = None,
) -> Load:
    """``clients`` connections spread over ``processes`` processes (each an asyncio loop),
    for ``seconds`` or ``requests`` in all, whichever ends first."""
    processes = max(1, min(processes, clients))
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    share = requests // processes
    jobs = [
        (url, extra, clients // processes + (i < clients % processes), seconds, share)
        for i in range(processes)
    ]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(_load_in_process, jobs)
    total = Load(max(part.seconds for part in parts), [], {}, clients)
    for part in parts:
        total.latencies += part.latencies
        total.reopened += part.reopened
        for kind, count in part.errors.items():
            total.errors[kind] = total.errors.get(kind, 0) + count
    return total


# --- memory --------------------------------------------------------------------------------


def worker_memory(server_pid: int) -> list[dict[str, int]]:
    """Resident and peak memory (KiB, /proc) of each process the server started (its
    workers), or of the server itself when it runs alone."""
    children = [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_of(stat) == server_pid and not _is_helper(stat.parent / "cmdline")
    ]
    return [_memory_of(pid) for pid in children or [server_pid]]


def _is_helper(cmdline: Path) -> bool:
    """multiprocessing's resource tracker, which uvicorn's supervisor also starts."""
    with contextlib.suppress(OSError):
        return b"resource_tracker" in cmdline.read_bytes()
    return True


def _parent_of(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _memory_of(pid: int) -> dict[str, int]:
    fields = {"pid": pid}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0])
    return fields


# --- the run -------------------------------------------------------------------------------


def run(args: argparse.Namespace, say: Callable[[str], None]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="ophis-scale-", dir=args.workdir))
    figures: dict[str, Any] = {"packages": args.packages, "cpus": os.cpu_count()}
    try:
        data_dir = workdir / "data"
        settings = ServerSettings(data_dir=data_dir, database_url=args.database_url)
        figures["database"] = settings.database.split(":", 1)[0]
        context = ServerContext.open(settings)
        try:
            figures["seeding"] = _seed(context, args.packages, say)
            biggest = max(SUBDIRS, key=SUBDIRS.__getitem__)
            if args.breakdown:
                figures["service_builds"] = breakdown(context, biggest, workdir)
                _say_breakdown(figures["service_builds"], say)
        finally:
            context.close()
        figures.update(_serve(args, workdir, data_dir, biggest, say))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def _seed(context: ServerContext, count: int, say: Callable[[str], None]) -> dict[str, Any]:
    made = synthetic_files(count)
    with context.sessions() as session:
        owner = accounts.create_user(session, OWNER, PASSWORD)
        started = time.perf_counter()
        seed(session, owner, made)
        seconds = time.perf_counter() - started
    per_subdir = {subdir: sum(f.subdir == subdir for f in made) for subdir in SUBDIRS}
    say(
        f"seeded {count} package files in {seconds:.1f} s ({count / seconds:.0f}/s, bulk rows "
        f"as an upload writes them): {per_subdir}"
    )
    return {"seconds": round(seconds, 2), "per_second": round(count / seconds), **per_subdir}


def _say_breakdown(builds: dict[str, Any], say: Callable[[str], None]) -> None:
    for phase in ("cold", "after_one_more_file", "after_removing_it"):
        timings = "  ".join(f"{name} {seconds:.3f} s" for name, seconds in builds[phase].items())
        say(f"service layer, {phase.replace('_', ' ')}: {timings}")
    identical = builds["identical_to_from_scratch"]
    say(f"incremental build byte-identical to a from-scratch one: {identical}")


def _serve(
    args: argparse.Namespace, workdir: Path, data_dir: Path, subdir: str, say: Callable[[str], None]
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    backend = Backend(database_url=args.database_url)  # None: SQLite in the data directory
    workers = ("--workers", str(args.workers))
    with (
        run_server(data_dir, *workers, backend=backend, timeout=120) as server,
        httpx.Client(timeout=600) as http,
    ):
        url = f"{server.conda(OWNER)}/{subdir}/repodata.json"
        seconds, body = _get(http, url)
        figures["first_repodata_seconds"] = seconds
        figures["repodata_bytes"] = len(body)
        say(f"first {subdir}/repodata.json ({len(body) / 2**20:.1f} MiB) in {seconds:.2f} s (cold)")
        figures["upload_seconds"], new_file = _upload_one(server, workdir, subdir)
        seconds, body = _get(http, url)
        if new_file.encode() not in body:
            raise SystemExit(f"{new_file} is not in repodata.json after its upload")
        figures["after_upload_repodata_seconds"] = seconds
        figures["warm_repodata_seconds"] = _get(http, url)[0]
        say(
            f"one more upload over HTTP in {figures['upload_seconds']:.2f} s; repodata.json "
            f"then {seconds:.2f} s (incremental), warm {figures['warm_repodata_seconds']:.3f} s"
        )
        figures["memory_after_first_requests_kib"] = worker_memory(server.process.pid)
        channel = server.conda(OWNER)
        kinds = targets(channel, subdir, new_file)
        ophis = [_measure(f"{channel}/{kind.path}", kind, args, "ophis", say) for kind in kinds]
        figures["memory_after_load_kib"] = worker_memory(server.process.pid)
        _say_memory(figures, say)
    static = workdir / "static"
    static.mkdir()
    with static_server(static) as root:
        ceiling = [
            _measure(f"{root}/{kind.path}", kind, args, "static file server", say)
            for kind in static_files(static, kinds)
        ]
    figures["kinds"] = {}
    for kind, mine, theirs in zip(kinds, ophis, ceiling, strict=True):
        ratio = round(mine.rate / theirs.rate, 3) if theirs.rate else None
        figures["kinds"][kind.name] = {
            "ophis": mine.figures(),
            "static": theirs.figures(),
            "ratio_ophis_to_static": ratio,
        }
        say(f"ratio ophis/static (requests/s), {kind.name}: {ratio}")
    return figures


def _get(http: httpx.Client, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = http.get(url)
    response.raise_for_status()
    return round(time.perf_counter() - started, 3), response.content


def _upload_one(server: RunningServer, workdir: Path, subdir: str) -> tuple[float, str]:
    """One more package, uploaded as anaconda-client does (stage, storage POST, commit)."""
    path = make_package(workdir, "scale-upload", "1.0", "0", subdir=subdir, fmt=".conda")
    token = server.login(OWNER, PASSWORD)
    headers = {"Authorization": f"token {token}"}
    started = time.perf_counter()
    with httpx.Client(base_url=server.api, headers=headers, timeout=600) as client:
        upload(client, OWNER, path)
    return round(time.perf_counter() - started, 3), path.name


def _measure(
    url: str, kind: Target, args: argparse.Namespace, name: str, say: Callable[[str], None]
) -> Load:
    processes = args.client_processes
    load(url, min(args.clients, 50), 2, 50, processes, kind.headers)  # warms the workers up
    measured = load(url, args.clients, args.seconds, args.requests, processes, kind.headers)
    if measured.errors:
        say(f"  {name} {kind.name} errors: {measured.errors}")
    say(
        f"{name + ' ' + kind.name:<40} {measured.rate:8.1f} req/s  "
        f"p50 {measured.percentile(50):8.1f} ms  p99 {measured.percentile(99):8.1f} ms  "
        f"({len(measured.latencies)} requests, {sum(measured.errors.values())} errors, "
        f"{measured.reopened} idle connections reopened, {args.clients} clients in "
        f"{processes} client processes, {measured.seconds:.1f} s)"
    )
    return measured


def _say_memory(figures: dict[str, Any], say: Callable[[str], None]) -> None:
    for moment in ("memory_after_first_requests_kib", "memory_after_load_kib"):
        workers = figures[moment]
        rss = ", ".join(f"{w.get('VmRSS', 0) / 1024:.0f}" for w in workers)
        peak = max((w.get("VmHWM", 0) for w in workers), default=0) / 1024
        moment_name = moment.removesuffix("_kib").replace("_", " ")
        say(f"{moment_name}: RSS per worker {rss} MiB; peak {peak:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packages", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=1000, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=4, help="server worker processes")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load run")
    parser.add_argument("--requests", type=int, default=1_000_000, help="cap per load run")
    parser.add_argument(
        "--client-processes",
        type=int,
        default=max(1, (os.cpu_count() or 2) // 2),
        help="processes the clients are spread over",
    )
    parser.add_argument("--database-url", default=None, help="SQLAlchemy URL [SQLite]")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="start a throwaway PostgreSQL cluster (ophis.testing.postgres) and use it",
    )
    args = parser.parse_args()
    quiet = args.json
    say = (lambda _: None) if quiet else (lambda line: print(line, flush=True))
    with contextlib.ExitStack() as stack:
        if args.postgres:
            from ophis.testing.postgres import create_database, running_postgres

            admin = stack.enter_context(running_postgres(max_connections=400))
            args.database_url = create_database(admin, "ophis_scale")
        figures = run(args, say)
    if quiet:
        print(json.dumps(figures, indent=2))
    else:
        print(
            f"({figures['cpus']} CPUs: server, database and load generator share them, so the "
            "absolute rates are a floor and the ratio is the figure to compare)"
        )


if __name__ == "__main__":
    main()
