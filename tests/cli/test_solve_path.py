"""The path from channels to a solved environment, as a user's script walks it: what a
solve loads, and when a cached channel is asked again.

A solve on a local channel, or on an HTTP channel whose copy is still fresh, loads no HTTP
client, no signature cryptography, no YAML reader (without a .condarc), no archive reader
and no server code (each costs every call a tenth of a second or more); a cached copy is
used without asking within ``local_repodata_ttl``, and a package uploaded meanwhile is
found once the copy is refreshed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package

#: what no solve needs unless a channel is remote and stale, signed, or an archive is read
NOT_FOR_A_SOLVE = (
    "httpx",
    "cryptography",
    "ruamel",
    "pydantic",
    "sqlalchemy",
    "fastapi",
    "rich",
    "conda_package_streaming",
    "ophis.server",
    "ophis.security",
)

#: ``ophis`` telling what it imports (on stderr, with ``python -X importtime``)
OPHIS_IMPORTTIME = (sys.executable, "-X", "importtime", "-m", "ophis")


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("served") / "demo"
    make_package(root / "noarch", "alpha", "1.0", "0")
    make_package(root / "noarch", "beta", "1.0", "0", depends=["alpha"])
    index_channel(root)
    return root


def dry_run(env: dict[str, str], url: str, *specs: str) -> tuple[dict, set[str]]:
    """``ophis create --dry-run --json`` on ``url``: its JSON document and the modules it
    imported (read from ``python -X importtime``)."""
    done = subprocess.run(
        [
            *OPHIS_IMPORTTIME,
            "create",
            "-n",
            "x",
            "--dry-run",
            "--json",
            "--override-channels",
            "-c",
            url,
            *specs,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    return json.loads(done.stdout), modules


def heavy(modules: set[str]) -> list[str]:
    return sorted(
        m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_FOR_A_SOLVE)
    )


def test_a_solve_on_a_local_channel_loads_only_what_it_runs(channel: Path, tmp_path: Path) -> None:
    document, modules = dry_run(isolated_user(tmp_path), channel.as_uri(), "beta")
    assert document["success"] is True
    assert {a["name"] for a in document["actions"]["LINK"]} == {"alpha", "beta"}
    assert not heavy(modules)


def test_a_fresh_cached_channel_is_not_asked_again_and_a_refresh_finds_new_packages(
    channel: Path, tmp_path: Path
) -> None:
    env = {**isolated_user(tmp_path), "CONDA_LOCAL_REPODATA_TTL": "600"}
    with serve_directory(channel.parent) as server:
        url = f"{server.url}/demo"
        first, modules = dry_run(env, url, "beta")
        assert first["success"] is True
        assert "httpx" in modules  # fetched: the client was needed
        assert server.requests

        repodata = channel / "noarch" / "repodata.json"
        served_at = repodata.stat().st_mtime
        make_package(channel / "noarch", "gamma", "1.0", "0")  # uploaded meanwhile
        index_channel(channel)
        # a later second than the copy's Last-Modified, which the refresh sends back
        for written in channel.rglob("*"):
            os.utime(written, (served_at + 5, served_at + 5))
        server.requests.clear()
        cached, modules = dry_run(env, url, "gamma")
        # within local_repodata_ttl the cached copy is the answer, as in conda
        assert cached["exception_name"] == "PackagesNotFoundInChannelsError"
        assert server.requests == []
        assert not heavy(modules)

        refreshed, _ = dry_run({**env, "CONDA_LOCAL_REPODATA_TTL": "0"}, url, "gamma")
        assert refreshed["success"] is True
        assert [a["name"] for a in refreshed["actions"]["LINK"]] == ["gamma"]
