"""Faults a server with several workers must survive: a worker killed in the middle of an
upload or of repodata requests, the database restarted while clients download. Nothing is
lost or half-visible, and clients that retry get whole, correct answers."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ophis.client.upload import upload
from ophis.core.package_create import create_package
from ophis.testing.backends import Backend, fresh_backend
from ophis.testing.packages import make_index
from ophis.testing.postgres import create_database, restart_postgres
from ophis.testing.processes import kill_worker_serving, wait_for_workers
from ophis.testing.server import RunningServer, run_server

WORKERS = 2
PASSWORD = "a-password-for-faults"
T = TypeVar("T")


def retried(attempt: Callable[[], T], seconds: float = 30.0) -> T:
    """What a client does after a dropped connection or a 5xx: try again, with back-off."""
    deadline, delay = time.monotonic() + seconds, 0.05
    while True:
        try:
            return attempt()
        except (httpx.TransportError, httpx.HTTPStatusError):
            if time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def big_package(folder: Path, name: str, megabytes: int = 8) -> Path:
    """A package too big to upload in one socket buffer (random, so it does not compress)."""
    payload = {"data/blob.bin": os.urandom(megabytes * 1024 * 1024)}
    return create_package(folder, index=make_index(name, "1.0"), files=payload, fmt=".tar.bz2")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("faults") / "data", "--workers", str(WORKERS)) as s:
        assert s.ophis("user", "create", "alice", "--password", PASSWORD).returncode == 0
        yield s


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return server.login("alice", PASSWORD)


def api(server: RunningServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.api + "/", headers={"Authorization": f"token {token}"}, timeout=60
    )


def repodata(server: RunningServer, client: httpx.Client | None = None) -> dict[str, Any]:
    url = server.conda("alice") + "/noarch/repodata.json"
    response = client.get(url) if client else httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.json()


def slow_body(body: bytes, started: threading.Event) -> Iterator[bytes]:
    for offset in range(0, len(body), 64 * 1024):
        if offset:
            started.set()
        yield body[offset : offset + 64 * 1024]
        time.sleep(0.02)


def test_a_worker_killed_during_an_upload_leaves_nothing_and_the_retry_succeeds(
    server: RunningServer, token: str, tmp_path: Path
) -> None:
    path = big_package(tmp_path, "interrupted")
    target = f"alice/interrupted/1.0/noarch/{path.name}"
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    # Closed before the upload starts: its kept-alive connection must not be the one found.
    with api(server, token) as client:
        client.post("package/alice/interrupted", json={"public": True}).raise_for_status()
        client.post("release/alice/interrupted/1.0", json={}).raise_for_status()
        staged = client.post(
            f"stage/{target}",
            json={"distribution_type": "conda", "attrs": {}, "channels": [], "sha256": sha256},
        ).json()
    form = httpx.Request(
        "POST",
        staged["post_url"],
        data=staged["form_data"],
        files={"file": (path.name, path.read_bytes())},
    )
    body, started, failure = form.read(), threading.Event(), []

    def send() -> None:
        try:
            httpx.post(
                staged["post_url"],
                content=slow_body(body, started),
                headers={"Content-Type": form.headers["Content-Type"]},
                timeout=60,
            )
        except httpx.TransportError as error:
            failure.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    assert started.wait(30)
    port = httpx.URL(server.url).port
    assert port is not None
    kill_worker_serving(server.process.pid, port)
    sender.join(60)
    assert failure, "the upload should have lost its connection"

    assert f"noarch/{path.name}" not in str(repodata(server))
    with api(server, token) as client:
        committed = client.post(f"commit/{target}", json={"dist_id": staged["dist_id"]})
        assert committed.status_code >= 400  # the half-sent file was never stored
        wait_for_workers(server.process.pid, WORKERS)
        retried(lambda: upload(client, "alice", path))
    assert list(retried(lambda: repodata(server))["packages"]) == [path.name]
    download = httpx.get(
        server.conda("alice") + f"/noarch/{path.name}", timeout=60, follow_redirects=True
    )
    assert hashlib.sha256(download.content).hexdigest() == sha256


def test_a_worker_killed_among_repodata_requests_costs_only_retries(
    server: RunningServer, token: str, tmp_path: Path
) -> None:
    with api(server, token) as client:
        for number in range(20):
            index = make_index(f"many{number}", "1.0", depends=[f"dep{n}" for n in range(50)])
            upload(client, "alice", create_package(tmp_path, index=index, fmt=".tar.bz2"))
    expected = retried(lambda: repodata(server))
    port = httpx.URL(server.url).port
    assert port is not None

    stop = threading.Event()

    def keep_fetching(_: int) -> list[dict[str, Any]]:
        """Requests in flight all along, on kept-alive connections as conda's, so that the
        kill lands among them (answers from memory are too quick to catch otherwise)."""
        answers = []
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                answers.append(retried(lambda: repodata(server, client)))
        return answers

    with ThreadPoolExecutor(16) as pool:
        results = pool.map(keep_fetching, range(16))
        try:
            kill_worker_serving(server.process.pid, port)
            time.sleep(0.5)  # requests go on against the survivor and the restarted worker
        finally:
            stop.set()
        answers = [answer for result in results for answer in result]
    assert answers and all(answer == expected for answer in answers)
    wait_for_workers(server.process.pid, WORKERS)
    assert repodata(server) == expected


def test_clients_recover_when_postgresql_restarts_during_downloads(
    postgres: str, tmp_path: Path
) -> None:
    shared = fresh_backend()
    backend = Backend(
        create_database(postgres, f"restart_{os.getpid()}"),
        shared.storage_url,
        shared.s3_endpoint_url,
    )
    with run_server(tmp_path / "data", "--workers", str(WORKERS), backend=backend) as server:
        assert server.ophis("user", "create", "alice", "--password", PASSWORD).returncode == 0
        with api(server, server.login("alice", PASSWORD)) as client:
            path = big_package(tmp_path, "steady", megabytes=1)
            upload(client, "alice", path)
        sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        url = server.conda("alice") + f"/noarch/{path.name}"
        stop = threading.Event()

        def download(response: httpx.Response | None = None) -> str:
            response = httpx.get(url, timeout=30, follow_redirects=True)
            response.raise_for_status()
            return hashlib.sha256(response.content).hexdigest()

        def keep_downloading(_: int) -> list[str]:
            seen = []
            while not stop.is_set():
                seen.append(retried(download))
                seen.append(retried(lambda: str(sorted(repodata(server)["packages"]))))
            return seen

        with ThreadPoolExecutor(4) as pool:
            results = pool.map(keep_downloading, range(4))
            time.sleep(1)
            restart_postgres(postgres)
            time.sleep(2)
            stop.set()
            seen = [value for result in results for value in result]
        assert set(seen) == {sha256, str([path.name])}
        assert retried(download) == sha256
