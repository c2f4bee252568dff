"""How fast the server answers ``repodata.json``, against a static file server in the same run.

Starts a real server (``ophis server start``), uploads N small packages to one channel over
HTTP the way anaconda-client does (``ophis.client.upload``: stage, storage POST, commit),
then sends ``GET /conda/<owner>/noarch/repodata.json`` from C concurrent clients: once
cached, and once right after one more upload (so the first requests wait for the rebuild).
The ceiling is the standard library's threading file server (``http.server``, with
keep-alive) serving the same bytes from disk, measured with the same clients. The clients
are minimal asyncio HTTP/1.1 loops: httpx's connection pool tops out near 200 requests/s
at 100 connections here, which would measure the client.
Usage: python benchmarks/server.py [--count 1000] [--clients 100] [--requests 3000]
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

from ophis.client.upload import upload
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


async def _client(url: httpx.URL, count: int, latencies: list[float]) -> None:
    """One client: ``count`` GETs in a row on a kept-alive connection (reopened when the
    server closes it, as ``http.server``'s HTTP/1.0 does after every response)."""
    request = f"GET {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.netloc.decode()}\r\n\r\n"
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


async def _load(url: str, clients: int, requests: int) -> Load:
    latencies: list[float] = []
    target = httpx.URL(url)
    started = time.perf_counter()
    await asyncio.gather(*(_client(target, requests // clients, latencies) for _ in range(clients)))
    return Load(time.perf_counter() - started, latencies)


def load(url: str, clients: int, requests: int) -> Load:
    return asyncio.run(_load(url, clients, requests))


#: the standard library's threading file server, kept alive (HTTP/1.1) and with a backlog
#: for 100 clients: ``python -m http.server`` itself closes every connection and queues 5
_STATIC = """
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
handler = functools.partial(Handler, directory=sys.argv[2])
Server(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
"""


def static_server(root: Path) -> contextlib.AbstractContextManager[str]:
    """``root`` served by the standard library's file server in another process."""
    return serve_in_process(lambda port: [sys.executable, "-c", _STATIC, str(port), str(root)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="ophis-bench-", dir=args.workdir))
    try:
        made = workdir / "packages"
        made.mkdir()
        with ProcessPoolExecutor() as pool:
            jobs = [(str(made), i) for i in range(args.count + 1)]
            paths = [Path(p) for p in pool.map(_make, jobs, chunksize=100)]
        with run_server(workdir / "data", "--workers", str(args.workers)) as server:
            server.ophis("user", "create", OWNER, "--password", "bench-password")
            token = server.login(OWNER, "bench-password")
            seconds = upload_packages(server, token, paths[:-1])
            print(
                f"uploaded {args.count} packages over HTTP in {seconds:.2f} s "
                f"({args.count / seconds:.0f}/s, stage + storage POST + commit each)"
            )
            url = f"{server.conda(OWNER)}/noarch/repodata.json"
            started = time.perf_counter()
            body = httpx.get(url).content
            print(
                f"first repodata.json ({len(body) / 1024:.0f} KiB) built in "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
            load(url, args.clients, args.clients)  # opens the connections
            cached = load(url, args.clients, args.requests)
            cached.show(f"ophis, cached (--workers {args.workers})")
            upload_packages(server, token, paths[-1:])
            after_add = load(url, args.clients, args.requests)
            after_add.show("ophis, right after one more upload")
        static = workdir / "static"
        static.mkdir()
        (static / "repodata.json").write_bytes(body)
        with static_server(static) as root:
            load(f"{root}/repodata.json", args.clients, args.clients)
            ceiling = load(f"{root}/repodata.json", args.clients, args.requests)
            ceiling.show("stdlib static file server, same bytes")
        print(
            f"ratio ophis/static: cached {cached.rate / ceiling.rate:.2f}x, "
            f"after an add {after_add.rate / ceiling.rate:.2f}x  (requests/s; >1 means "
            "ophis is faster)"
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
