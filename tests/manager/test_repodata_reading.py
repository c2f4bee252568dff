"""A channel's repodata is read once per version of its file: the same file is not read
again by a process that solves twice, and a changed file is never answered from what
was read before (whether it was replaced, or rewritten to the same size and time)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import ChannelContext, parse_channel
from ophis.manager.solve import SolveRequest, clear_repodata_cache, load_repodata, solve


def _write_repodata(channel: Path, versions: list[str]) -> Path:
    """noarch/repodata.json listing ``demo`` at ``versions`` (an empty linux-64 beside)."""
    for subdir in ("noarch", "linux-64"):
        (channel / subdir).mkdir(parents=True, exist_ok=True)
    packages = {
        f"demo-{v}-0.tar.bz2": {
            "name": "demo",
            "version": v,
            "build": "0",
            "build_number": 0,
            "depends": [],
            "subdir": "noarch",
        }
        for v in versions
    }
    path = channel / "noarch" / "repodata.json"
    document = {"info": {"subdir": "noarch"}, "packages": packages}
    write_atomic(path, json.dumps(document, sort_keys=True).encode())
    empty = {"info": {"subdir": "linux-64"}, "packages": {}}
    write_atomic(channel / "linux-64" / "repodata.json", json.dumps(empty).encode())
    return path


def _solved_version(channel: Path) -> str:
    source = parse_channel(str(channel), ChannelContext())
    repodata = {(source.base_url, s): channel / s / "repodata.json" for s in ("linux-64", "noarch")}
    request = SolveRequest(
        specs=("demo",), channels=(source,), subdir="linux-64", repodata=repodata
    )
    (record,) = solve(request).link
    return str(record.version)


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_repodata_cache()
    yield
    clear_repodata_cache()


def test_an_unchanged_file_is_read_once(tmp_path: Path) -> None:
    path = _write_repodata(tmp_path / "channel", ["1.0"])
    source = parse_channel(str(tmp_path / "channel"), ChannelContext())
    first = load_repodata(source, "noarch", path)
    assert load_repodata(source, "noarch", path) is first


def test_a_newly_indexed_package_is_found_by_the_next_solve(tmp_path: Path) -> None:
    channel = tmp_path / "channel"
    _write_repodata(channel, ["1.0"])
    assert _solved_version(channel) == "1.0"
    _write_repodata(channel, ["1.0", "2.0"])  # an upload, then the index is written again
    assert _solved_version(channel) == "2.0"


def test_a_replaced_file_with_the_same_size_and_time_is_read_again(tmp_path: Path) -> None:
    """Two index runs within the filesystem's clock tick can leave the same size and time:
    what was read before must not answer for the new file."""
    channel = tmp_path / "channel"
    path = _write_repodata(channel, ["1.0"])
    assert _solved_version(channel) == "1.0"
    before = os.stat(path)
    _write_repodata(channel, ["1.1"])  # the same length, written over atomically
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.path.getsize(path) == before.st_size
    assert _solved_version(channel) == "1.1"
