"""Many concurrent HTTP clients for load tests and benchmarks, on plain asyncio streams.

httpx's connection pool tops out near 200 requests/s at 100 connections, which would
measure the client; these loops cost little more than the bytes. Each client keeps one
HTTP/1.1 connection alive (reopened when the server closes it) and honours ``503`` with
``Retry-After`` as conda and pip do: it waits and asks again, and the request counts once,
with its whole time, the 503s it absorbed counted apart.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ophis.client.upload import upload
from ophis.core.errors import OphisError
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer

_MAX_RETRY_AFTER = 5.0
OWNER, PASSWORD = "load", "a-password-for-load"


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One kept-alive HTTP/1.1 connection to ``host:port``."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> Reply:
        if self._streams is None:
            self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            reply = await _read_reply(reader, method)
        except BaseException:
            self.close()  # a reply half read leaves the connection unusable
            raise
        if reply.headers.get("connection", "").lower() == "close":
            self.close()
        return reply

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None


async def _read_reply(reader: asyncio.StreamReader, method: str) -> Reply:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304):
        return Reply(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return Reply(status, headers, await _read_chunks(reader))
    return Reply(status, headers, await reader.readexactly(int(headers["content-length"])))


async def _read_chunks(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
    await reader.readuntil(b"\r\n")
    return b"".join(parts)


@dataclass
class Tally:
    """What a load run saw: each request's seconds (503 retries included) and status."""

    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    #: 503s with Retry-After that a client waited out and retried
    absorbed: int = 0
    #: requests with no answer within their time bound
    timeouts: int = 0
    #: connections the server closed or reset mid-request
    broken: int = 0
    #: what the server said to requests that failed (uploads refused)
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def record(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        self.latencies.append(seconds)

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def percentile(self, p: int) -> float:
        """Milliseconds within which ``p`` % of the requests were answered."""
        if len(self.latencies) < 2:
            return max(self.latencies, default=0.0) * 1000
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def summary(self) -> str:
        statuses = ", ".join(f"{n} x {status}" for status, n in sorted(self.statuses.items()))
        return (
            f"{len(self.latencies)} requests in {self.seconds:.1f} s "
            f"({len(self.latencies) / max(self.seconds, 1e-9):.0f}/s): p50 "
            f"{self.percentile(50):.0f} ms, p99 {self.percentile(99):.0f} ms, max "
            f"{max(self.latencies, default=0) * 1000:.0f} ms; {statuses}; "
            f"{self.absorbed} x 503 absorbed, {self.timeouts} time-outs, "
            f"{self.broken} broken connections, {len(self.failures)} failures"
        )


async def fetch(
    connection: Connection,
    tally: Tally,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Reply | None:
    """One request, retried after each ``503`` with ``Retry-After``; None when no final
    answer came within ``timeout`` seconds (counted as a time-out)."""
    started = time.perf_counter()
    deadline = started + timeout
    while True:
        try:
            async with asyncio.timeout(deadline - time.perf_counter()):
                reply = await connection.request(method, target, headers)
        except TimeoutError:
            tally.timeouts += 1
            return None
        retry_after = reply.headers.get("retry-after")
        if reply.status == 503 and retry_after is not None:
            wait = min(float(retry_after), _MAX_RETRY_AFTER)
            if time.perf_counter() + wait < deadline:
                tally.absorbed += 1
                await asyncio.sleep(wait)
                continue
        tally.record(reply.status, time.perf_counter() - started)
        return reply


class RetryAfterTransport(httpx.HTTPTransport):
    """httpx's transport, waiting out ``503`` + ``Retry-After`` and sending again (the
    request's body must be replayable: bytes, or files httpx seeks back to the start)."""

    def __init__(self, tally: Tally | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.tally = tally

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        while True:
            response = super().handle_request(request)
            retry_after = response.headers.get("retry-after")
            if response.status_code != 503 or retry_after is None:
                return response
            response.close()
            if self.tally is not None:
                self.tally.absorbed += 1
            time.sleep(min(float(retry_after), _MAX_RETRY_AFTER))


@dataclass
class Channel:
    """What a load run asks a server for: one owner's channel, listings and files."""

    owner: str
    token: str
    files: list[str]  #: basenames of the owner's noarch packages
    spare: list[Path]  #: packages made but not uploaded yet, for uploads during a run

    def targets(self) -> list[str]:
        """One round of a client's requests: repodata, two API listings, a download."""
        return [
            f"/conda/{self.owner}/noarch/repodata.json",
            f"/api/user/{self.owner}",
            f"/api/packages/{self.owner}",
            f"/conda/{self.owner}/noarch/{self.files[0]}",
        ]


async def _client(host: str, port: int, tally: Tally, targets: list[str], timeout: float) -> None:
    connection = Connection(host, port)
    try:
        for target in targets:
            if await fetch(connection, tally, "GET", target, timeout=timeout) is None:
                return  # timed out: this client's bound is spent
    except (ConnectionError, asyncio.IncompleteReadError):
        tally.broken += 1
    finally:
        connection.close()


async def _crowd(url: str, clients: int, rounds: list[list[str]], timeout: float) -> Tally:
    parsed = httpx.URL(url)
    tally = Tally()
    await asyncio.gather(
        *(
            _client(parsed.host, parsed.port or 80, tally, rounds[i % len(rounds)], timeout)
            for i in range(clients)
        )
    )
    tally.seconds = time.perf_counter() - tally.started
    return tally


def crowd(url: str, clients: int, rounds: list[list[str]], timeout: float = 30.0) -> Tally:
    """``clients`` connections at once, client ``i`` sending the requests of
    ``rounds[i % len(rounds)]`` one after another."""
    return asyncio.run(_crowd(url, clients, rounds, timeout))


def prepare_channel(server: RunningServer, folder: Path, uploads: int, spare: int = 10) -> Channel:
    """A user ``load`` with ``uploads`` packages in its channel, ``spare`` more made."""
    created = server.ophis("user", "create", OWNER, "--password", PASSWORD)
    if created.returncode != 0:
        raise RuntimeError(f"creating the user {OWNER} failed: {created.stderr}")
    token = server.login(OWNER, PASSWORD)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [make_package(folder, f"load{i:03d}", "1.0", "0") for i in range(uploads + spare)]
    with _api(server, token) as client:
        for path in paths[:uploads]:
            upload(client, OWNER, path)
    return Channel(OWNER, token, [p.name for p in paths[:uploads]], paths[uploads:])


def _api(server: RunningServer, token: str, tally: Tally | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=server.api,
        headers={"Authorization": f"token {token}"},
        transport=RetryAfterTransport(tally),
        timeout=60,
    )


@contextmanager
def uploads_during(server: RunningServer, channel: Channel, count: int) -> Iterator[Tally]:
    """``count`` of the channel's spare packages uploaded one after another in a thread,
    while the ``with`` block runs; the tally counts each upload (stage, file, commit) as
    one request."""
    tally = Tally()
    paths, channel.spare = channel.spare[:count], channel.spare[count:]

    def run() -> None:
        with _api(server, channel.token, tally) as client:
            for path in paths:
                started = time.perf_counter()
                try:
                    upload(client, channel.owner, path)
                except httpx.TimeoutException:
                    tally.timeouts += 1
                except OphisError as error:
                    tally.failures.append(error.message)
                else:
                    tally.record(201, time.perf_counter() - started)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        yield tally
    finally:
        worker.join()
        tally.seconds = time.perf_counter() - tally.started
