"""What a stranger's or a user's oversized requests cost the server: every body is bounded
before it is read (413), staged uploads are capped per user and purged on a timer, and the
data directory is private to the server. Also: release versions are checked on the way in,
and /api/docs loads nothing from another host."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from ophis.server.db.models import Stage
from ophis.server.storage import open_storage
from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.browser import chromium
from ophis.testing.http import headers
from ophis.testing.packages import make_package
from ophis.testing.polling import wait_for
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import database

MiB = 1024**2
#: the staging caps of this module's server (and a short stage lifetime, for the purger)
SETTINGS = {"stage_seconds": 3, "max_staged_uploads": 2, "max_staged_bytes": 3 * MiB}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("limits")
    config = root / "server.toml"
    config.write_text("".join(f"{key} = {value}\n" for key, value in SETTINGS.items()))
    with run_server(root / "data", "--config", str(config)) as running:
        yield running


@pytest.fixture(scope="module")
def api(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, headers=headers(server.login())) as client:
        assert client.post("/package/admin/demo", json={"public": True}).status_code == 200
        assert client.post("/release/admin/demo/1.0", json={}).status_code == 200
        yield client


# --- request bodies ------------------------------------------------------------------------


def raw_request(
    server: RunningServer, head: str, body: Iterator[bytes] = iter(())
) -> tuple[int | None, bytes]:
    """Send ``head`` and as much of ``body`` as the server takes; the status and body of
    its answer (None when it closed the connection without one)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(head.encode() + b"\r\n")
        try:
            for chunk in body:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what it answered is what counts
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    if not answer.startswith(b"HTTP/1.1 "):
        return None, answer
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def chunked(total: int, size: int = MiB) -> Iterator[bytes]:
    """``total`` bytes of a JSON-looking body, in HTTP chunks."""
    piece = b"[" + b"0," * (size // 2 - 1) + b"0"
    sent = 0
    while sent < total:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
        sent += len(piece)
    yield b"0\r\n\r\n"


def multipart_file(total: int) -> Iterator[bytes]:
    """A multipart body whose one part is a ``total``-byte file, in HTTP chunks (a form
    parser would spool it to disk)."""
    opening = b'--b\r\nContent-Disposition: form-data; name="f"; filename="f"\r\n\r\n'
    pieces = [opening, *(b"x" * MiB for _ in range(total // MiB)), b"\r\n--b--\r\n"]
    for piece in pieces:
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def peak_rss_kib(pid: int) -> int:
    """The most memory the process has held at once (its RSS high-water mark)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def head(path: str, *lines: str) -> str:
    request = (f"POST {path} HTTP/1.1", "Host: x", "Connection: close", *lines)
    return "".join(f"{line}\r\n" for line in request)


def test_a_declared_oversized_json_body_is_refused_before_it_is_read(
    server: RunningServer,
) -> None:
    started = time.monotonic()
    status, body = raw_request(
        server,
        head(
            "/api/authentications",
            "Content-Type: application/json",
            f"Content-Length: {400 * 1024 * MiB}",
        ),
    )
    assert status == 413 and time.monotonic() - started < 10  # no 400 MB were awaited
    error = json.loads(body)
    assert (
        "larger than this server accepts" in error["error"]
        and "max_request_bytes" in (error["remedy"])
    )


def test_a_streamed_body_without_length_keeps_the_servers_memory_bounded(
    server: RunningServer,
) -> None:
    before = peak_rss_kib(server.process.pid)
    status, _ = raw_request(
        server,
        head(
            "/api/package/admin/x", "Content-Type: application/json", "Transfer-Encoding: chunked"
        ),
        chunked(200 * MiB),
    )
    grown = peak_rss_kib(server.process.pid) - before
    assert status in (413, None)  # a 413, or the connection closed while still sending
    assert grown < 100 * 1024, f"the server's peak memory grew by {grown} KiB for a refused body"
    assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/api/package/admin/x", "application/json", chunked),  # a JSON API
        ("/login", "application/x-www-form-urlencoded", chunked),  # a web form
        ("/settings/labels", "multipart/form-data; boundary=b", multipart_file),
    ],
)
def test_chunked_bodies_over_the_small_limit_get_413(
    server: RunningServer, path: str, content_type: str, body: Callable[[int], Iterator[bytes]]
) -> None:
    status, answer = raw_request(
        server,
        head(path, f"Content-Type: {content_type}", "Transfer-Encoding: chunked"),
        body(2 * MiB),
    )
    assert status == 413 and b"1048576 bytes" in answer


def test_an_upload_declared_past_max_upload_bytes_is_refused_before_it_is_read(
    server: RunningServer,
) -> None:
    status, _ = raw_request(
        server,
        head(
            "/api/storage/x",
            "Content-Type: multipart/form-data; boundary=b",
            f"Content-Length: {5 * 1024 * MiB}",
        ),
    )
    assert status == 413


# --- staged uploads ------------------------------------------------------------------------


def stage(api: httpx.Client, data: bytes, name: str) -> httpx.Response:
    basename = quote(f"noarch/{name}-1.0-0.tar.bz2")
    payload = {"distribution_type": "conda", "sha256": hashlib.sha256(data).hexdigest()}
    return api.post(f"/stage/admin/demo/1.0/{basename}", json=payload)


def storage_post(staged: dict, data: bytes) -> httpx.Response:
    fields = {**staged["form_data"], "Content-Length": str(len(data))}
    return httpx.post(staged["post_url"], data=fields, files={"file": ("f", data)}, timeout=60)


def open_stages(server: RunningServer) -> int:
    with database(server) as session:
        return session.scalar(select(func.count()).select_from(Stage)) or 0


def staged_files(server: RunningServer) -> list[Path]:
    temp = open_storage(server.settings).temp_dir()
    return [p for p in temp.glob("stage-*/*") if p.is_file()]


def test_staging_is_capped_per_user_and_abandoned_stages_are_purged(
    server: RunningServer, api: httpx.Client
) -> None:
    two_mib = os.urandom(2 * MiB)
    first = stage(api, two_mib, "first")
    assert first.status_code == 200
    # larger than max_request_bytes: the upload route keeps its own limit
    assert storage_post(first.json(), two_mib).status_code == 201
    [received] = staged_files(server)
    assert stat.S_IMODE(received.stat().st_mode) == 0o600

    second = stage(api, two_mib, "second")
    assert second.status_code == 200
    refused = storage_post(second.json(), two_mib)  # 2 + 2 MiB > max_staged_bytes
    assert refused.status_code == 400
    assert "<Code>EntityTooLarge</Code>" in refused.text and "max_staged_bytes" in refused.text

    third = stage(api, b"small", "third")
    assert third.status_code == 429
    assert "max_staged_uploads" in third.json()["error"]
    assert "commit" in third.json()["remedy"]

    # nobody commits: the purger removes the rows and the bytes once they expire
    assert wait_for(lambda: open_stages(server) == 0 and staged_files(server) == [], seconds=15)
    assert stage(api, b"small", "fourth").status_code == 200


# --- the data directory --------------------------------------------------------------------


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_directory_and_what_the_server_writes_are_private(
    server: RunningServer, api: httpx.Client
) -> None:
    httpx.get(server.conda("admin") + "/noarch/repodata.json").raise_for_status()  # a cache
    data = server.data_dir
    assert mode_of(data) == 0o700
    if server.backend.database_url is None:
        assert mode_of(data / "ophis.sqlite") == 0o600
    # (what deployments and notebooks write is their processes' own business)
    others = ("deployments", "notebooks", "notebooks-runtime")
    written = [
        p for p in data.rglob("*") if p.is_file() and p.relative_to(data).parts[0] not in others
    ]
    assert any(path.is_relative_to(data / "cache") for path in written)
    readable = {str(path.relative_to(data)): oct(mode_of(path)) for path in written}
    assert {path: mode for path, mode in readable.items() if mode != oct(0o600)} == {}


def test_an_existing_data_directory_others_could_read_is_made_private(
    server: RunningServer,
) -> None:
    data = server.data_dir
    os.chmod(data, 0o755)
    sqlite = data / "ophis.sqlite"
    if sqlite.exists():
        os.chmod(sqlite, 0o644)
    opened = server.ophis("user", "list")  # opens the data directory as `start` does
    assert opened.returncode == 0, opened.stderr
    assert mode_of(data) == 0o700 and (not sqlite.exists() or mode_of(sqlite) == 0o600)
    assert re.search(r"was readable by other users \(mode 755\); made it 700", opened.stderr)


# --- versions ------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["<b>1", "1.0\u202e", "1.0\x07", "1.0 ", "1 0", "1..0"])
def test_release_versions_are_checked(api: httpx.Client, version: str) -> None:
    response = api.post(f"/release/admin/demo/{quote(version, safe='')}", json={})
    assert response.status_code == 400
    assert response.json()["error"].startswith("version ")
    assert "not a valid conda version" in response.json()["error"]


def test_the_anaconda_client_cannot_upload_a_version_with_markup(
    server: RunningServer, api: httpx.Client, tmp_path: Path
) -> None:
    client = as_user(AnacondaClient(server, tmp_path / "anaconda"), server.login())
    package = make_package(tmp_path, "marked", "1.0<b>", "0")
    result = client("upload", str(package))
    assert result.returncode != 0
    assert "version '1.0<b>' is not a valid conda version" in result.output
    assert api.get("/package/admin/marked").json().get("releases", []) == []


def test_a_pip_file_needs_a_pep_440_version(api: httpx.Client) -> None:
    assert api.post("/release/admin/demo/1.0_1", json={}).status_code == 200  # conda's form
    payload = {"distribution_type": "pypi", "sha256": "0" * 64}
    response = api.post("/stage/admin/demo/1.0_1/demo-1.0_1.tar.gz", json=payload)
    assert response.status_code == 400
    assert "version '1.0_1' is not a valid Python package version" in response.json()["error"]


def test_package_names_are_checked(api: httpx.Client) -> None:
    response = api.post(f"/package/admin/{quote('<b>x')}", json={})
    assert response.status_code == 400 and response.json()["error"].startswith("name ")


# --- the API's documentation ---------------------------------------------------------------


def test_api_docs_load_nothing_from_another_host(server: RunningServer) -> None:
    page = httpx.get(f"{server.url}/api/docs")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "http" not in policy  # this server only
    requested: list[str] = []
    with chromium() as browser:
        tab = browser.new_page()
        tab.on("request", lambda request: requested.append(request.url))
        tab.goto(f"{server.url}/api/docs")
        tab.wait_for_selector(".opblock-summary-path", timeout=30_000)  # it rendered
        tab.close()
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {urlsplit(server.url).netloc}
    assert "cdn" not in httpx.get(f"{server.url}/redoc").text  # FastAPI's ReDoc page is off
