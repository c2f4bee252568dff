"""Mirroring from and onto a real Ophis server on 127.0.0.1."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.client.api import ApiClient, Spec
from ophis.client.upload import UploadOptions, upload
from ophis.mirror.destinations import LocalChannelDestination, ServerChannelDestination
from ophis.mirror.plan import Filters, records_of
from ophis.mirror.sync import MirrorOptions, discover_subdirs, mirror, upstream_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.mirror import add_package, assert_consistent, records, reindex
from ophis.testing.server import RunningServer, run_server

SUBDIRS = ("noarch", "linux-64")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def token(server: RunningServer) -> str:
    return server.login()


def served_records(server: RunningServer, owner: str, token: str | None, subdir: str) -> dict:
    response = httpx.get(f"{server.conda(owner, token=token)}/{subdir}/repodata.json")
    return records_of(response.json()) if response.status_code == 200 else {}


def test_a_private_server_channel_is_mirrored_and_kept_in_sync(
    server: RunningServer, token: str, tmp_path: Path
) -> None:
    packages = tmp_path / "built"
    files = [
        add_package(packages, "srv-a", "1.0"),
        add_package(packages, "srv-a", "2.0"),
        add_package(packages, "srv-b", "1.0", subdir="linux-64"),
    ]
    private = UploadOptions(public=False)
    with httpx.Client(base_url=server.api, headers={"Authorization": f"token {token}"}) as api:
        for path in files:
            upload(api, server.admin, path, private)
    upstream = server.conda(server.admin, token=token)
    assert served_records(server, server.admin, None, "noarch") == {}  # private: token needed

    assert discover_subdirs(upstream_channel(upstream)) == ("linux-64", "noarch")
    dest = tmp_path / "mirror"
    first = mirror(upstream, LocalChannelDestination(dest), MirrorOptions())
    assert not first.failures and len(first.fetched) == 3
    for subdir in SUBDIRS:
        assert records(dest, subdir) == served_records(server, server.admin, token, subdir)

    with httpx.Client(base_url=server.api, headers={"Authorization": f"token {token}"}) as api:
        upload(api, server.admin, add_package(packages, "srv-c", "1.0"), private)
    with ApiClient(server.api, token) as api:
        api.remove(Spec(server.admin, "srv-a", "1.0", "noarch/srv-a-1.0-0.tar.bz2"))
    second = mirror(upstream, LocalChannelDestination(dest), MirrorOptions(SUBDIRS))
    assert second.fetched == [("noarch", "srv-c-1.0-0.tar.bz2")]
    assert [p.remove for p in second.plans] == [("srv-a-1.0-0.tar.bz2",), ()]
    for subdir in SUBDIRS:
        assert records(dest, subdir) == served_records(server, server.admin, token, subdir)
    assert_consistent(dest)

    # naming the packages: only their repodata shards are read, not the whole repodata
    named = tmp_path / "named"
    options = MirrorOptions(SUBDIRS, Filters.parse(include=("srv-c",)))
    mirror(upstream, LocalChannelDestination(named), options)
    assert set(records(named)) == {"srv-c-1.0-0.tar.bz2"}
    assert records(named)["srv-c-1.0-0.tar.bz2"] == records(dest)["srv-c-1.0-0.tar.bz2"]
    assert list((named / ".ophis-mirror" / "upstream" / "shards").iterdir())
    cached = [p.name for p in (named / ".ophis-mirror" / "upstream").iterdir()]
    assert not [name for name in cached if re.fullmatch(r"[0-9a-f]{16}\.json", name)]


def test_a_channel_is_mirrored_onto_a_server_channel(
    server: RunningServer, token: str, upstream: Path, tmp_path: Path
) -> None:
    owner, password = "mirrored", "pw-for-mirror-tests"
    created = server.ophis("user", "create", owner, "--password", password)
    assert created.returncode == 0, created.stdout + created.stderr
    token = server.login(owner, password)
    to = ServerChannelDestination(server.url, owner, token, tmp_path / "work")
    report = mirror(str(upstream), to, MirrorOptions(SUBDIRS))
    assert not report.failures
    for subdir in SUBDIRS:
        on_server = served_records(server, owner, token, subdir)
        expected = records(upstream, subdir)
        assert set(on_server) == set(expected)
        assert {fn: r["sha256"] for fn, r in on_server.items()} == {
            fn: r["sha256"] for fn, r in expected.items()
        }

    (upstream / "noarch" / "beta-0.5-0.tar.bz2").unlink()
    add_package(upstream, "epsilon", "1.0")
    reindex(upstream)
    to = ServerChannelDestination(server.url, owner, token, tmp_path / "work")
    again = mirror(str(upstream), to, MirrorOptions(SUBDIRS))
    assert again.fetched == [("noarch", "epsilon-1.0-0.tar.bz2")]
    assert set(served_records(server, owner, token, "noarch")) == set(records(upstream))


def test_ophis_mirror_to_a_server_channel_from_the_command_line(
    server: RunningServer, upstream: Path, home: dict[str, str]
) -> None:
    owner, password = "cli-mirror", "pw-for-mirror-tests"
    created = server.ophis("user", "create", owner, "--password", password)
    assert created.returncode == 0, created.stdout + created.stderr
    token = server.login(owner, password)
    to = ["--to", f"{server.url}/{owner}", "--token", token]
    summary = ok_json(ophis(home, "mirror", upstream.as_uri(), *to, "-s", "noarch", "--json"))
    assert summary["destination"] == f"{server.url}/{owner}"
    assert summary["files"] == len(records(upstream)) and summary["failures"] == []
    assert set(served_records(server, owner, token, "noarch")) == set(records(upstream))
    refused = ophis(home, "mirror", upstream.as_uri(), "--to", f"{server.url}/{owner}", "--json")
    assert refused.returncode == 1  # no token, no login: the server says who may write
    assert json.loads(refused.stdout)["success"] is False
