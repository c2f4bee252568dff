"""How fast the server answers what channels serve most, against a static file server in
the same run.

Starts a real server (``ophis server start --workers W``), uploads N small packages to one
channel over HTTP the way anaconda-client does (``ophis.client.upload``: stage, storage
POST, commit), then sends anonymous GETs from C concurrent clients (for each C given) for:
``noarch/repodata.json`` cached, the same asked for compressed as conda asks
(``Accept-Encoding: gzip, deflate, br, zstd``), a CEP-16 shard, and a package file; and
repodata.json right after one more upload (the first requests wait for the rebuild). The
ceiling is the standard library's threading file server (``http.server``, with keep-alive)
serving the same bytes from disk (the compressed answer's bytes as a file of their own),
measured with the same clients, row by row in turn with Ophis (twice each, the faster
kept); the ratio of the request rates is printed per row. The
clients are minimal asyncio HTTP/1.1 loops: httpx's connection pool tops out near 200
requests/s at 100 connections here, which would measure the client.
Usage: python benchmarks/server.py [--count 1000] [--clients 100,1000] [--requests 3000]
       [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from ophis.client.upload import upload
from ophis.core.shards import read_shards_index
from ophis.testing.http import serve_in_process
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

OWNER = "bench"
_LENGTH = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
_CLOSE = re.compile(rb"(?i)\r\nconnection: *close")


@dataclass(frozen=True)
class Load:
    seconds: float
    latencies: list[float]  #: seconds per request

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000

    def show(self, name: str) -> None:
        print(
            f"{name:<38} {self.rate:8.0f} req/s   p50 {self.percentile(50):7.1f} ms"
            f"   p99 {self.percentile(99):7.1f} ms   max {max(self.latencies) * 1000:7.1f} ms"
        )


def _make(job: tuple[str, int]) -> str:
    folder, i = job
    depends = [f"pkg{(i + 1) % 1000:04d}"]
    return str(make_package(Path(folder), f"pkg{i:04d}", "1.0", "0", depends=depends))


def upload_packages(server: RunningServer, token: str, paths: list[Path]) -> float:
    """Upload as anaconda-client does (stage, storage POST, commit), one file after another."""
    started = time.perf_counter()
    headers = {"Authorization": f"token {token}"}
    with httpx.Client(base_url=server.api, headers=headers, timeout=60) as client:
        for path in paths:
            upload(client, OWNER, path)
    return time.perf_counter() - started


async def _client(url: httpx.URL, count: int, latencies: list[float], extra: str) -> None:
    """One client: ``count`` GETs in a row on a kept-alive connection (reopened when the
    server closes it, as ``http.server``'s HTTP/1.0 does after every response); ``extra``:
    more header lines."""
    request = f"GET {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.netloc.decode()}\r\n"
    request += f"{extra}\r\n"
    connection = None
    for _ in range(count):
        sent = time.perf_counter()
        if connection is None:
            connection = await asyncio.open_connection(url.host, url.port)
        reader, writer = connection
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.0 200")):
            raise RuntimeError(f"{url}: {head.splitlines()[0].decode()}")
        await reader.readexactly(int(_LENGTH.search(head).group(1)))
        latencies.append(time.perf_counter() - sent)
        if head.startswith(b"HTTP/1.0") or _CLOSE.search(head):
            writer.close()
            connection = None
    if connection is not None:
        connection[1].close()


async def _load(url: str, clients: int, requests: int, extra: str) -> Load:
    latencies: list[float] = []
    target = httpx.URL(url)
    count = max(1, requests // clients)
    started = time.perf_counter()
    await asyncio.gather(*(_client(target, count, latencies, extra) for _ in range(clients)))
    return Load(time.perf_counter() - started, latencies)


def load(url: str, clients: int, requests: int, headers: dict[str, str] | None = None) -> Load:
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    return asyncio.run(_load(url, clients, requests, extra))


#: what conda sends
CONDA_ENCODINGS = {"Accept-Encoding": "gzip, deflate, br, zstd"}


@dataclass(frozen=True)
class Target:
    """One kind of request: its path under the channel, headers, and the bytes it gets."""

    name: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


def targets(channel: str, subdir: str = "noarch", package: str | None = None) -> list[Target]:
    """repodata.json plain and compressed, a shard and a package file (``package``, else
    the first in repodata.json) of ``subdir``, with their bytes."""
    with httpx.Client(timeout=600) as http:
        repodata_url = f"{channel}/{subdir}/repodata.json"
        plain = http.get(repodata_url).content
        with http.stream("GET", repodata_url, headers=CONDA_ENCODINGS) as r:
            coded = b"".join(r.iter_raw())
            coding = r.headers.get("content-encoding", "none")
        index = http.get(f"{channel}/{subdir}/repodata_shards.msgpack.zst").content
        digest = next(iter(read_shards_index(index)["shards"].values()))
        shard_path = f"{subdir}/shards/{digest}.msgpack.zst"
        shard = http.get(f"{channel}/{shard_path}").content
        package = package or next(iter(orjson.loads(plain)["packages"]))
        package_body = http.get(f"{channel}/{subdir}/{package}").content
    return [
        Target("repodata.json", f"{subdir}/repodata.json", {}, plain),
        Target(f"repodata.json {coding}", f"{subdir}/repodata.json", CONDA_ENCODINGS, coded),
        Target("shard", shard_path, {}, shard),
        Target("package file", f"{subdir}/{package}", {}, package_body),
    ]


def static_files(root: Path, kinds: list[Target]) -> list[Target]:
    """Each target's bytes as a file of its own under ``root``: the same requests to a
    static file server."""
    for n, target in enumerate(kinds):
        (root / str(n)).write_bytes(target.body)
    return [Target(target.name, str(n), {}) for n, target in enumerate(kinds)]


def measure(url: str, target: Target, clients: int, requests: int) -> Load:
    """``target`` at ``url`` with ``clients`` clients, their connections opened first."""
    load(url, clients, clients, target.headers)
    return load(url, clients, max(requests, 3 * clients), target.headers)


#: one row: what Ophis is asked, the same bytes from the static file server, the clients
Row = tuple[Target, Target, int]


def measure_pairs(channel: str, root: str, rows: list[Row], requests: int) -> list[Load]:
    """Each row against Ophis and the static file server in turn, twice, the faster of each
    kept (a machine whose load drifts weighs on both sides alike): Ophis's and the static
    file server's figures, row after row."""
    measured = []
    for target, static, clients in rows:
        pairs = [
            (
                measure(f"{channel}/{target.path}", target, clients, requests),
                measure(f"{root}/{static.path}", static, clients, requests),
            )
            for _ in range(2)
        ]
        for side in (0, 1):
            measured.append(max((pair[side] for pair in pairs), key=lambda m: m.rate))
    return measured


#: the standard library's threading file server, kept alive (HTTP/1.1) and with a backlog
#: for many clients: ``python -m http.server`` itself closes every connection and queues 5
_STATIC = """
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 4096
handler = functools.partial(Handler, directory=sys.argv[2])
Server(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def static_server(root: Path) -> contextlib.AbstractContextManager[str]:
    """``root`` served by the standard library's file server in another process."""
    return serve_in_process(lambda port: [sys.executable, "-c", _STATIC, str(port), str(root)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--clients", default="100,1000", help="client counts, comma-separated")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-", dir=args.workdir))
    try:
        made = workdir / "packages"
        made.mkdir()
        with ProcessPoolExecutor() as pool:
            jobs = [(str(made), i) for i in range(args.count + 1)]
            paths = [Path(p) for p in pool.map(_make, jobs, chunksize=100)]
        with run_server(workdir / "data", "--workers", str(args.workers), timeout=120) as server:
            server.ophis("user", "create", OWNER, "--password", "bench-password")
            token = server.login(OWNER, "bench-password")
            seconds = upload_packages(server, token, paths[:-1])
            print(
                f"uploaded {args.count} packages over HTTP in {seconds:.2f} s "
                f"({args.count / seconds:.0f}/s, stage + storage POST + commit each)"
            )
            channel = server.conda(OWNER)
            started = time.perf_counter()
            kinds = targets(channel)
            print(
                f"first documents ({len(kinds[0].body) / 1024:.0f} KiB repodata.json) built in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
            static = workdir / "static"
            static.mkdir()
            served = static_files(static, kinds)
            rows = [(kinds[n], served[n], c) for c in client_counts for n in range(len(kinds))]
            with static_server(static) as root:
                measured = measure_pairs(channel, root, rows, args.requests)
            upload_packages(server, token, paths[-1:])
            after_add = load(f"{channel}/noarch/repodata.json", client_counts[0], args.requests)
        ophis, ceiling = measured[::2], measured[1::2]
        _report(args.workers, rows, ophis, ceiling)
        print(
            f"repodata.json right after one more upload ({client_counts[0]} clients): "
            f"{after_add.rate:.0f} req/s, p50 {after_add.percentile(50):.1f} ms "
            f"({after_add.rate / ceiling[0].rate:.2f}x static)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _report(workers: int, rows: list[Row], ophis: list[Load], ceiling: list[Load]) -> None:
    print(
        f"{'--workers ' + str(workers):<24}{'clients':>8}  {'ophis req/s':>11} {'p50 ms':>8} "
        f"{'p99 ms':>8}  {'static req/s':>12} {'p50 ms':>8} {'p99 ms':>8}  {'ratio':>6}"
    )
    for (target, _, clients), mine, theirs in zip(rows, ophis, ceiling, strict=True):
        print(
            f"{target.name:<24}{clients:>8}  {mine.rate:>11.0f} {mine.percentile(50):>8.1f} "
            f"{mine.percentile(99):>8.1f}  {theirs.rate:>12.0f} {theirs.percentile(50):>8.1f} "
            f"{theirs.percentile(99):>8.1f}  {mine.rate / theirs.rate:>5.2f}x"
        )
    print(
        "(ratio: ophis requests/s over the static file server's, same bytes, same clients, "
        "measured in turn, the faster of two runs each)"
    )


if __name__ == "__main__":
    main()
