"""Upstream channels for the mirror tests, and what a user checks on a mirror."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from ophis.core.shards import SHARDS_INDEX, read_shard, read_shards_index, shard_filename
from ophis.indexer.channel_index import IndexOptions, index_channel
from ophis.mirror.plan import records_of
from ophis.testing.packages import make_package

#: fast indexing: the mirror reads repodata.json only
QUICK = IndexOptions(write_bz2=False, write_current_repodata=False, workers=1)


def add_package(
    channel: Path,
    name: str,
    version: str = "1.0",
    *,
    subdir: str = "noarch",
    size: int = 2_000,
    **index: Any,
) -> Path:
    """A package with ``size`` random (incompressible) bytes in it, into ``channel``."""
    data = random.Random(f"{name}-{version}-{subdir}").randbytes(size)
    folder = channel / subdir
    folder.mkdir(parents=True, exist_ok=True)
    return make_package(folder, name, version, subdir=subdir, files={"data.bin": data}, **index)


_LATER = itertools.count(1)


def reindex(channel: Path) -> None:
    """Index ``channel`` again. The repodata files it rewrites get a later mtime than
    before: a static server's Last-Modified counts whole seconds, and a test is quicker."""
    before = {p: p.stat().st_mtime_ns for p in channel.glob("*/repodata*")}
    index_channel(channel, QUICK)
    later = time.time() + 2 * next(_LATER)
    for path in channel.glob("*/repodata*"):
        if before.get(path) != path.stat().st_mtime_ns:
            os.utime(path, (later, later))


def repodata(channel: Path, subdir: str = "noarch") -> dict[str, Any]:
    return json.loads((channel / subdir / "repodata.json").read_text())


def records(channel: Path, subdir: str = "noarch") -> dict[str, dict[str, Any]]:
    return records_of(repodata(channel, subdir))


def assert_consistent(mirror: Path) -> None:
    """What a client of the mirror relies on: every record's file is there, intact, and
    the shards (which rattler reads first) say what repodata.json says."""
    for document in mirror.glob("*/repodata.json"):
        published = records_of(json.loads(document.read_text()))
        for filename, record in published.items():
            path = document.parent / filename
            assert path.is_file(), f"{filename} is in {document} but missing"
            assert path.stat().st_size == record["size"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == record["sha256"]
        assert shard_records(document.parent) == published


def shard_records(subdir: Path) -> dict[str, dict[str, Any]]:
    index = read_shards_index((subdir / SHARDS_INDEX).read_bytes())
    named = {shard_filename(digest) for digest in index["shards"].values()}
    assert {p.name for p in (subdir / "shards").iterdir()} == named  # no stale shards left
    found: dict[str, dict[str, Any]] = {}
    for digest in index["shards"].values():
        found.update(
            records_of(read_shard((subdir / "shards" / shard_filename(digest)).read_bytes()))
        )
    return found


def package_files(channel: Path, subdir: str = "noarch") -> set[str]:
    folder = channel / subdir
    return {p.name for p in folder.iterdir() if p.name.endswith((".conda", ".tar.bz2"))}


def corrupt(path: Path) -> None:
    """Change a file's bytes but not its size: only its sha256 can tell."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """An indexed channel: three packages in noarch, one in linux-64."""
    channel = tmp_path / "upstream"
    add_package(channel, "alpha", "1.0")
    add_package(channel, "alpha", "2.0")
    add_package(channel, "beta", "0.5", license="MIT")
    add_package(channel, "gamma", "3.1", subdir="linux-64")
    reindex(channel)
    return channel
