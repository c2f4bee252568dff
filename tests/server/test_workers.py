"""Stateless workers: two servers (as on two machines: separate data directories and
caches) over one database and one storage serve the same answers, whichever of them took
each step of an upload."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ophis.client.upload import upload
from ophis.testing.backends import Backend, fresh_backend
from ophis.testing.packages import conda_package
from ophis.testing.server import RunningServer, run_server

PASSWORD = "a-password-for-workers"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, ...]]:
    root = tmp_path_factory.mktemp("machines")
    backend = fresh_backend()
    if backend.database_url is None:  # SQLite and local files, shared by path
        backend = Backend(f"sqlite:///{root / 'shared.sqlite'}", (root / "files").as_uri())
    with ExitStack() as stack:
        first = stack.enter_context(run_server(root / "one", backend=backend))
        second = stack.enter_context(run_server(root / "two", backend=backend))
        assert first.ophis("user", "create", "alice", "--password", PASSWORD).returncode == 0
        yield first, second


def api(server: RunningServer, token: str) -> httpx.Client:
    headers = {"Authorization": f"token {token}"}
    return httpx.Client(base_url=server.api + "/", headers=headers, timeout=30)


def repodata(server: RunningServer) -> bytes:
    response = httpx.get(server.conda("alice") + "/noarch/repodata.json", timeout=30)
    response.raise_for_status()
    return response.content


def test_an_upload_staged_on_one_machine_commits_on_the_other(
    servers: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    one, two = servers
    token = one.login("alice", PASSWORD)
    path = conda_package(tmp_path, "crossing", "1.0")
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    target = f"alice/crossing/1.0/noarch/{path.name}"
    with api(one, token) as on_one, api(two, token) as on_two:
        on_one.post("package/alice/crossing", json={"public": True}).raise_for_status()
        on_two.post("release/alice/crossing/1.0", json={}).raise_for_status()
        staged = on_one.post(
            f"stage/{target}",
            json={"distribution_type": "conda", "attrs": {}, "channels": [], "sha256": sha256},
        ).json()
        received = httpx.post(
            staged["post_url"].replace(one.url, two.url),
            data=staged["form_data"],
            files={"file": (path.name, path.read_bytes())},
        )
        assert received.status_code == 201, received.text
        committed = on_one.post(f"commit/{target}", json={"dist_id": staged["dist_id"]})
        assert committed.status_code == 200, committed.text
    assert repodata(one) == repodata(two)
    for server in servers:
        download = httpx.get(
            server.conda("alice") + f"/noarch/{path.name}", follow_redirects=True, timeout=30
        )
        assert hashlib.sha256(download.content).hexdigest() == sha256


def test_a_change_made_through_one_is_served_at_once_by_the_other(
    servers: tuple[RunningServer, RunningServer], tmp_path: Path
) -> None:
    one, two = servers
    before = repodata(two)  # cached by the second
    with api(one, one.login("alice", PASSWORD)) as client:
        upload(client, "alice", conda_package(tmp_path, "fresh", "2.0"))
    after = repodata(two)
    assert after != before and b"fresh-2.0-0.tar.bz2" in after
    assert repodata(one) == after
