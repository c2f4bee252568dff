"""Consumers of a server channel: py-rattler's solver, ``ophis create`` (dry run and a real
install) and the ophis client's sharded repodata, from the plain channel, a label, and a
private package behind a token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
import rattler
from rattler.exceptions import SolverError

from ophis.client.repodata_cache import FetchOptions, fetch_all
from ophis.core.channel import ChannelContext, parse_channel
from ophis.testing.cli import linked, ophis_create
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase

RECIPES = Path("conda") / "test-recipes" / "noarch"


@pytest.fixture(scope="module")
def alice(
    database: ServerDatabase, testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """Version 2 of conda's dependent/dependency recipes in main, version 1 in the dev label,
    and a private package that needs dependency; returns alice's token."""
    token = database.user("alice")
    for version, labels in (("2.0", None), ("1.0", ["dev"])):
        for name in ("dependency", "dependent"):
            database.add("alice", testdata / RECIPES / f"{name}-{version}-0.tar.bz2", labels=labels)
    made = make_package(tmp_path_factory.mktemp("made"), "secret-tool", depends=["dependency"])
    database.add("alice", made, public=False)
    return token


def solve(channel: str, spec: str, cache: Path) -> dict[str, str]:
    """py-rattler's solve against ``channel``: ``{name: url}`` of the solution."""
    records = asyncio.run(
        rattler.solve(
            [rattler.Channel(channel)],
            [spec],
            gateway=rattler.Gateway(cache_dir=cache),
            platforms=["linux-64", "noarch"],
        )
    )
    return {record.name.normalized: record.url for record in records}


def test_rattler_solves_from_the_channel_and_a_label(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    main = solve(server.conda("alice"), "dependent", tmp_path / "main")
    assert main == {
        "dependent": f"{server.conda('alice')}/noarch/dependent-2.0-0.tar.bz2",
        "dependency": f"{server.conda('alice')}/noarch/dependency-2.0-0.tar.bz2",
    }
    assert list((tmp_path / "main" / "shards-v1").iterdir())  # rattler read CEP-16 shards
    dev = solve(server.conda("alice", "dev"), "dependent", tmp_path / "dev")
    assert dev["dependent"] == f"{server.conda('alice', 'dev')}/noarch/dependent-1.0-0.tar.bz2"


def test_rattler_sees_a_private_package_only_with_the_token(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    private = solve(server.conda("alice", token=alice), "secret-tool", tmp_path / "token")
    assert set(private) == {"secret-tool", "dependency"}
    assert httpx.get(private["secret-tool"], follow_redirects=True).status_code == 200
    with pytest.raises(SolverError, match="secret-tool"):
        solve(server.conda("alice"), "secret-tool", tmp_path / "anonymous")
    assert httpx.get(private["secret-tool"].replace(f"/t/{alice}", "")).status_code == 404


def test_ophis_create_dry_run_from_a_private_channel(
    server: RunningServer, alice: str, home: dict[str, str], tmp_path: Path
) -> None:
    code, report = ophis_create(
        home, tmp_path / "env", server.conda("alice", token=alice), "secret-tool", "--dry-run"
    )
    assert code == 0, report
    assert linked(report) == {"secret-tool": "1.0", "dependency": "2.0"}
    assert not (tmp_path / "env").exists()
    code, report = ophis_create(
        home, tmp_path / "env", server.conda("alice"), "secret-tool", "--dry-run"
    )
    assert code == 1
    assert report["exception_name"] == "PackagesNotFoundInChannelsError"


def test_ophis_create_installs_from_main_a_label_and_a_private_channel(
    server: RunningServer, alice: str, home: dict[str, str], tmp_path: Path
) -> None:
    channels = {
        "main": (server.conda("alice"), "dependent", {"dependent": "2.0", "dependency": "2.0"}),
        "dev": (
            server.conda("alice", "dev"),
            "dependent",
            {"dependent": "1.0", "dependency": "1.0"},
        ),
        "private": (
            server.conda("alice", token=alice),
            "secret-tool",
            {"secret-tool": "1.0", "dependency": "2.0"},
        ),
    }
    for name, (channel, spec, expected) in channels.items():
        prefix = tmp_path / name
        code, report = ophis_create(home, prefix, channel, spec)
        assert code == 0, report
        assert linked(report) == expected
        installed = {p.name for p in (prefix / "conda-meta").glob("*.json")}
        assert installed == {f"{n}-{v}-0.json" for n, v in expected.items()}
    records = (tmp_path / "private" / "conda-meta" / "secret-tool-1.0-0.json").read_text()
    assert alice not in records  # the token is not kept with the installed package


def test_the_ophis_client_reads_the_shards_it_needs(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    channel = parse_channel(server.conda("alice", token=alice), ChannelContext())
    subdirs = ["linux-64", "noarch"]
    sharded = fetch_all([channel], subdirs, FetchOptions(tmp_path / "sharded"), names=["dependent"])
    noarch = orjson.loads(next(s.path for s in sharded if s.subdir == "noarch").read_bytes())
    assert list((tmp_path / "sharded" / "shards").iterdir())  # fetched shard by shard
    full = httpx.get(f"{server.conda('alice', token=alice)}/noarch/repodata.json").json()
    reached = {"dependent", "dependency"}
    expected = {fn: r for fn, r in full["packages"].items() if r["name"] in reached}
    assert noarch["packages"] == expected
    assert "secret-tool-1.0-0.tar.bz2" in full["packages"]  # in the subdir, not reached
