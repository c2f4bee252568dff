"""A proxy channel in front of a hostile upstream: packages whose metadata names paths
outside the prefix are fetched, refused and never stored or served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.testing.cli import ok_json
from ophis.testing.hostile import METADATA_CASES, plant_victim, snapshot, write_repodata
from ophis.testing.http import StaticServer, serve_directory
from ophis.testing.mirror import download, mirror_command
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StaticServer]]:
    root = tmp_path_factory.mktemp("hostile-upstream") / "channel"
    noarch = root / "noarch"
    built = [case.build(noarch, ".tar.bz2") for case in METADATA_CASES]
    built.append(make_package(noarch, "plain", files={"share/plain.txt": b"x"}))
    write_repodata(root, built)
    with serve_directory(root) as static:
        yield root, static


def test_a_proxy_refuses_and_never_stores_hostile_packages(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    _root, static = upstream
    plant_victim(server.data_dir.parent)
    outside = snapshot(server.data_dir.parent, server.data_dir)
    ok_json(mirror_command(server, "add", owner, static.url, "--proxy", "--json"))

    for case in METADATA_CASES:
        filename = f"{case.name}-1.0-0.tar.bz2"
        response = download(server, owner, "noarch", filename)
        assert response.status_code in (400, 502), response.text
        assert filename in response.text and case.entry in response.json()["error"]
        assert download(server, owner, "noarch", filename).status_code in (400, 502)

    assert download(server, owner, "noarch", "plain-1.0-0.tar.bz2").status_code == 200
    outside.assert_unchanged()
