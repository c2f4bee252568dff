"""Mirrors in tests: upstream channels built here (packages of random, incompressible
bytes, reindexed with a later mtime), what a user checks on a mirror, and a server whose
mirror channels are synced by hand."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from ophis.core.shards import SHARDS_INDEX, read_shard, read_shards_index, shard_filename
from ophis.indexer.channel_index import IndexOptions, index_channel
from ophis.mirror.plan import records_of
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

#: fast indexing: the mirror reads repodata.json only
QUICK = IndexOptions(write_bz2=False, write_current_repodata=False, workers=1)
#: the password of the accounts :func:`follower` makes
FOLLOWER_PASSWORD = "a-password-for-mirrors"


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


@contextmanager
def mirroring_server(folder: Path) -> Iterator[RunningServer]:
    """A server without its mirror runner: tests sync by hand (:func:`mirror_command`)."""
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:  # read once, as the server starts
            patch.setenv("OPHIS_MIRROR_RUNNER", "false")
            running = stack.enter_context(run_server(folder / "data"))
        yield running


_followers = itertools.count(1)


def follower(server: RunningServer) -> str:
    """A new user (password :data:`FOLLOWER_PASSWORD`), for channels of a test's own."""
    login = f"follower{next(_followers)}"
    result = server.ophis("user", "create", login, "--password", FOLLOWER_PASSWORD)
    assert result.returncode == 0, result.stderr
    return login


def mirror_command(
    server: RunningServer,
    *args: str,
    storage: bool = False,
    environment: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``ophis server mirror ARGS`` on the server's database (and storage, for a sync), with
    ``environment`` added to this process's."""
    where = (
        server.backend.server_args()
        if storage
        else (["--database", server.backend.database_url] if server.backend.database_url else [])
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ophis",
            "server",
            "mirror",
            *args,
            "--data-dir",
            str(server.data_dir),
            *where,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(environment or {})},
    )


def download(
    server: RunningServer, owner: str, subdir: str, filename: str, label: str | None = None
) -> httpx.Response:
    url = f"{server.conda(owner, label)}/{subdir}/{filename}"
    return httpx.get(url, follow_redirects=True, timeout=30)
