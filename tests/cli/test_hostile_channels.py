"""Hostile channels: repodata fields that would become paths, and sizes that lie. The user
gets an error naming the channel and the record (or the file and both sizes); nothing
outside the package cache changes and nothing is left in it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ophis.testing.cli import ophis
from ophis.testing.hostile import FORMATS, plant_victim, snapshot, write_repodata
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package


def hostile_channel(root: Path, fmt: str, **fields: object) -> Path:
    """A channel whose one record, ``demo``, has ``fields`` changed after indexing."""
    package = make_package(
        root / "channel" / "noarch", "demo", files={"share/d.txt": b"d"}, fmt=fmt
    )
    return write_repodata(root / "channel", [package], **{package.name: fields})


def create(home: dict[str, str], tmp_path: Path, url: str) -> subprocess.CompletedProcess:
    env = tmp_path / "work" / "env"
    source = ["--override-channels", "-c", url]
    return ophis(home, "create", "-p", str(env), *source, "demo", "-y", "--json")


@pytest.fixture
def cache(home: dict[str, str], tmp_path: Path) -> Path:
    """The package cache, three levels below ``tmp_path`` so '../..' stays in the test."""
    (tmp_path / "work").mkdir()
    plant_victim(tmp_path / "work")
    return Path(home["CONDA_PKGS_DIRS"])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("build", "0/../../work"),  # the cache folder <name>-<version>-<build> leaves the cache
        ("build", "0\x00"),
        ("subdir", "../noarch"),
    ],
)
def test_record_fields_that_would_become_paths_are_refused(
    field: str, value: str, fmt: str, home: dict[str, str], tmp_path: Path, cache: Path
) -> None:
    channel = hostile_channel(tmp_path, fmt, **{field: value})
    outside = snapshot(tmp_path, cache, Path(home["HOME"]), Path(home["OPHIS_ROOT_PREFIX"]))

    result = create(home, tmp_path, channel.as_uri())

    assert result.returncode != 0
    error = json.loads(result.stdout)["error"]
    assert f"demo-1.0-0{fmt}" in error and channel.as_uri() in error and repr(value) in error
    outside.assert_unchanged()
    assert not cache.exists() or not any(cache.glob("demo*"))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("delta", [-1, 1])
@pytest.mark.parametrize("scheme", ["file", "http"])
def test_a_size_that_disagrees_with_the_file_is_refused(
    scheme: str, delta: int, fmt: str, home: dict[str, str], tmp_path: Path, cache: Path
) -> None:
    real = make_package(tmp_path / "probe", "demo", files={"share/d.txt": b"d"}, fmt=fmt)
    size = real.stat().st_size
    channel = hostile_channel(tmp_path, fmt, size=size + delta)

    if scheme == "file":
        result = create(home, tmp_path, channel.as_uri())
    else:
        with serve_directory(channel.parent) as server:
            result = create(home, tmp_path, f"{server.url}/channel")

    assert result.returncode != 0
    error = json.loads(result.stdout)["error"]
    assert f"demo-1.0-0{fmt}" in error
    assert f"{size + delta} bytes" in error
    assert f"is {size} bytes" in error or "is at least" in error
    leftovers = list(cache.glob("demo*")) if cache.exists() else []
    assert leftovers == []  # no archive, partial download or extracted folder
