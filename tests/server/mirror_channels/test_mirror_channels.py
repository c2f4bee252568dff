"""Mirror and proxy channels on the server: a label that follows an upstream channel (a
channel folder served over HTTP on 127.0.0.1), synced by `ophis server mirror sync` or by
the server's own runner, or fetched on first request (a proxy)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ophis.mirror.plan import Filters, records_of
from ophis.server.context import ServerContext
from ophis.server.services.channels import mirror_channels
from ophis.testing.cli import linked, ok_json, ophis_create
from ophis.testing.http import StaticServer, serve_directory
from ophis.testing.mirror import (
    FOLLOWER_PASSWORD,
    add_package,
    download,
    mirror_command,
    records,
    reindex,
)
from ophis.testing.server import RunningServer, run_server

RECIPES = Path("conda") / "test-recipes" / "noarch"


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[Path, StaticServer]]:
    """A channel folder (alpha 1-3 and beta in noarch, gamma in linux-64) on HTTP."""
    root = tmp_path / "upstream"
    for version in ("1.0", "2.0", "3.0"):
        add_package(root, "alpha", version, license="MIT")
    add_package(root, "beta", "1.0", license="BSD-3-Clause")
    add_package(root, "gamma", "1.0", subdir="linux-64", license="GPL-3.0")
    reindex(root)
    with serve_directory(root) as static:
        yield root, static


def sync(server: RunningServer, target: str) -> subprocess.CompletedProcess[str]:
    return mirror_command(server, "sync", target, "--json", storage=True)


def served(
    server: RunningServer, owner: str, subdir: str, label: str | None = None
) -> dict[str, str]:
    """``{filename: sha256}`` of the channel's repodata."""
    response = httpx.get(f"{server.conda(owner, label)}/{subdir}/repodata.json", timeout=30)
    assert response.status_code == 200, response.text
    return {fn: r["sha256"] for fn, r in records_of(response.json()).items()}


def expected(root: Path, subdir: str, filters: Filters = Filters()) -> dict[str, str]:
    return {fn: r["sha256"] for fn, r in filters.apply(records(root, subdir)).items()}


# --- mirror channels ------------------------------------------------------------------------


def test_a_synced_mirror_serves_the_filtered_upstream(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    added = ok_json(
        mirror_command(
            server,
            "add",
            f"{owner}/stable",
            static.url,
            "--include",
            "alpha",
            "--include",
            "gamma",
            "--newest",
            "2",
            "-s",
            "noarch",
            "-s",
            "linux-64",
            "--json",
        )
    )
    assert added["mode"] == "mirror" and added["last_status"] == ""
    [report] = ok_json(sync(server, f"{owner}/stable"))
    assert report["status"] == "ok" and report["failure_count"] == 0
    filters = Filters.parse(include=("alpha", "gamma"), newest=2)
    for subdir in ("noarch", "linux-64"):
        assert served(server, owner, subdir, "stable") == expected(root, subdir, filters)
    assert set(served(server, owner, "noarch", "stable")) == {
        "alpha-2.0-0.tar.bz2",
        "alpha-3.0-0.tar.bz2",
    }
    assert report["files"] == 3 and report["bytes"] > 0
    body = download(server, owner, "noarch", "alpha-3.0-0.tar.bz2", "stable").content
    assert hashlib.sha256(body).hexdigest() == records(root)["alpha-3.0-0.tar.bz2"]["sha256"]
    [listed] = ok_json(mirror_command(server, "list", owner, "--json"))
    assert listed["last_status"] == "ok" and listed["last_summary"]["files"] == 3


def test_a_resync_follows_what_upstream_added_and_removed(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    ok_json(mirror_command(server, "add", owner, static.url, "-s", "noarch", "--json"))
    ok_json(sync(server, owner))
    assert served(server, owner, "noarch") == expected(root, "noarch")
    (root / "noarch" / "alpha-1.0-0.tar.bz2").unlink()
    add_package(root, "delta", "1.0")
    reindex(root)
    [report] = ok_json(sync(server, owner))
    assert report["files"] == 1 and report["removed"] == 1
    assert served(server, owner, "noarch") == expected(root, "noarch")
    assert "alpha-1.0-0.tar.bz2" not in served(server, owner, "noarch")
    assert download(server, owner, "noarch", "alpha-1.0-0.tar.bz2").status_code == 404
    [again] = ok_json(sync(server, owner))  # nothing changed: nothing fetched
    assert (again["files"], again["removed"]) == (0, 0)


def test_a_corrupt_upstream_file_is_never_published_and_is_reported(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    damaged = root / "noarch" / "beta-1.0-0.tar.bz2"
    good = damaged.read_bytes()
    damaged.write_bytes(b"\0" * len(good))  # same size, other bytes
    ok_json(mirror_command(server, "add", owner, static.url, "-s", "noarch", "--json"))
    result = sync(server, owner)
    assert result.returncode == 1
    [report] = json.loads(result.stdout)
    assert report["status"] == "failed"
    assert [f["filename"] for f in report["failures"]] == ["beta-1.0-0.tar.bz2"]
    published = served(server, owner, "noarch")
    assert "beta-1.0-0.tar.bz2" not in published
    assert set(published) == set(expected(root, "noarch")) - {"beta-1.0-0.tar.bz2"}
    assert download(server, owner, "noarch", "beta-1.0-0.tar.bz2").status_code == 404
    [listed] = ok_json(mirror_command(server, "list", owner, "--json"))
    assert listed["last_status"] == "failed"
    assert listed["last_summary"]["failures"][0]["filename"] == "beta-1.0-0.tar.bz2"
    damaged.write_bytes(good)  # upstream repaired: the next sync completes the mirror
    [report] = ok_json(sync(server, owner))
    assert (report["status"], report["files"]) == ("ok", 1)
    assert served(server, owner, "noarch") == expected(root, "noarch")


def test_the_upstream_token_is_used_and_never_shown(
    server: RunningServer, owner: str, tmp_path: Path
) -> None:
    root = tmp_path / "private-upstream"
    add_package(root, "hidden", "1.0")
    reindex(root)
    secret = "upstream-secret-token-1234"
    with serve_directory(root, token=secret) as static:
        added = mirror_command(
            server, "add", owner, f"{static.url}/t/{secret}", "-s", "noarch", "--json"
        )
        [report] = ok_json(sync(server, owner))
        listed = mirror_command(server, "list", "--json")
    assert report["status"] == "ok" and report["files"] == 1
    assert served(server, owner, "noarch") == expected(root, "noarch")
    for shown in (added.stdout, listed.stdout, json.dumps(report)):
        assert secret not in shown
    assert ok_json(added)["has_token"] is True


def test_one_worker_syncs_a_mirror_at_a_time(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    _, static = upstream
    ok_json(mirror_command(server, "add", owner, static.url, "-s", "noarch", "--json"))
    context = ServerContext.open(server.settings, upgrade=False)
    try:
        with context.sessions() as session:
            [row] = mirror_channels.list_mirrors(session, owner)
            assert mirror_channels.claim(session, row.id, due_only=False)  # another worker
            assert not mirror_channels.claim(session, row.id, due_only=False)
        [report] = ok_json(sync(server, owner))
        assert report["status"] == "busy"
        assert served(server, owner, "noarch") == {}
    finally:
        context.close()


def test_ophis_create_installs_from_a_mirror_channel(
    server: RunningServer, owner: str, testdata: Path, home: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "recipes-upstream"
    (root / "noarch").mkdir(parents=True)
    for name in ("dependency", "dependent"):
        for version in ("1.0", "2.0"):
            shutil.copy(testdata / RECIPES / f"{name}-{version}-0.tar.bz2", root / "noarch")
    reindex(root)
    with serve_directory(root) as static:
        ok_json(
            mirror_command(
                server, "add", owner, static.url, "-s", "noarch", "--newest", "1", "--json"
            )
        )
        ok_json(sync(server, owner))
    code, report = ophis_create(home, tmp_path / "env", server.conda(owner), "dependent")
    assert code == 0, report
    assert linked(report) == {"dependent": "2.0", "dependency": "2.0"}


def test_a_proxy_channel_is_not_synced_and_unknown_mirrors_are_refused(
    server: RunningServer, owner: str
) -> None:
    ok_json(
        mirror_command(server, "add", f"{owner}/cache", "http://127.0.0.1:9/x", "--proxy", "--json")
    )
    assert "proxy" in sync(server, f"{owner}/cache").stdout
    assert sync(server, f"{owner}/nothing").returncode == 1
    assert mirror_command(server, "add", owner, "ftp://example", "--json").returncode == 1
    assert (
        mirror_command(
            server, "add", owner, "http://127.0.0.1:9/x", "--newest", "0", "--json"
        ).returncode
        == 1
    )
    removed = ok_json(mirror_command(server, "remove", f"{owner}/cache", "--json"))
    assert removed["removed"] is True
    assert ok_json(mirror_command(server, "list", owner, "--json")) == []


def test_the_server_syncs_due_mirrors_on_its_own(
    upstream: tuple[Path, StaticServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, static = upstream
    monkeypatch.setenv("OPHIS_MIRROR_POLL_SECONDS", "0.3")
    with run_server(tmp_path / "runner") as running:
        assert (
            running.ophis("user", "create", "bob", "--password", FOLLOWER_PASSWORD).returncode == 0
        )
        ok_json(
            mirror_command(
                running, "add", "bob", static.url, "-s", "noarch", "--interval", "1", "--json"
            )
        )
        deadline = time.monotonic() + 60
        while served(running, "bob", "noarch") != expected(root, "noarch"):
            assert time.monotonic() < deadline, "the runner did not sync the mirror"
            time.sleep(0.3)
        add_package(root, "epsilon", "1.0")  # due again after its 1 s interval
        reindex(root)
        while "epsilon-1.0-0.tar.bz2" not in served(running, "bob", "noarch"):
            assert time.monotonic() < deadline, "the runner did not sync the mirror again"
            time.sleep(0.3)
        [listed] = ok_json(mirror_command(running, "list", "--json"))
        assert listed["last_status"] == "ok"


# --- proxy channels -------------------------------------------------------------------------


def test_a_proxy_fetches_a_file_on_first_request_and_keeps_it(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, _ = upstream
    with serve_directory(root) as static:  # its own, stopped midway
        ok_json(
            mirror_command(
                server,
                "add",
                f"{owner}/proxied",
                static.url,
                "--proxy",
                "--include",
                "alpha",
                "--interval",
                "1",
                "--json",
            )
        )
        filters = Filters.parse(include=("alpha",))
        assert served(server, owner, "noarch", "proxied") == expected(root, "noarch", filters)
        wanted = records(root)["alpha-2.0-0.tar.bz2"]
        first = download(server, owner, "noarch", "alpha-2.0-0.tar.bz2", "proxied")
        assert first.status_code == 200
        assert hashlib.sha256(first.content).hexdigest() == wanted["sha256"]
        assert download(server, owner, "noarch", "beta-1.0-0.tar.bz2", "proxied").status_code == 404
        assert (
            download(server, owner, "noarch", "nothing-1.0-0.tar.bz2", "proxied").status_code == 404
        )
        odd = download(server, owner, ".x", "alpha-2.0-0.tar.bz2", "proxied")
        assert odd.status_code == 404  # not a subdir name: never a path on disk
    # upstream is gone: what was fetched is still served, and so is the repodata, from the
    # proxy's cache, also once older than the proxy's interval
    time.sleep(1.2)
    again = download(server, owner, "noarch", "alpha-2.0-0.tar.bz2", "proxied")
    assert again.status_code == 200 and again.content == first.content
    assert served(server, owner, "noarch", "proxied") == expected(root, "noarch", filters)
    # one never fetched cannot be: a gateway error, not a 404 (upstream lists it)
    assert download(server, owner, "noarch", "alpha-1.0-0.tar.bz2", "proxied").status_code == 502


def test_concurrent_first_requests_fetch_a_proxied_file_once(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    ok_json(mirror_command(server, "add", owner, static.url, "--proxy", "--json"))
    path = "/noarch/alpha-3.0-0.tar.bz2"
    with ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: download(server, owner, "noarch", path.rsplit("/", 1)[1]), range(6))
        )
    assert {a.status_code for a in answers} == {200}
    assert {hashlib.sha256(a.content).hexdigest() for a in answers} == {
        records(root)["alpha-3.0-0.tar.bz2"]["sha256"]
    }
    assert [p for p, _ in static.requests if p == path] == [path]


def test_a_proxy_never_stores_a_corrupt_upstream_file(
    server: RunningServer, owner: str, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    damaged = root / "noarch" / "beta-1.0-0.tar.bz2"
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    ok_json(mirror_command(server, "add", owner, static.url, "--proxy", "--json"))
    assert download(server, owner, "noarch", "beta-1.0-0.tar.bz2").status_code == 502
    assert download(server, owner, "noarch", "beta-1.0-0.tar.bz2").status_code == 502
    assert download(server, owner, "noarch", "alpha-1.0-0.tar.bz2").status_code == 200


def test_ophis_create_installs_through_a_proxy_channel(
    server: RunningServer, owner: str, testdata: Path, home: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "recipes-upstream"
    (root / "noarch").mkdir(parents=True)
    for name in ("dependency", "dependent"):
        shutil.copy(testdata / RECIPES / f"{name}-1.0-0.tar.bz2", root / "noarch")
    reindex(root)
    with serve_directory(root) as static:
        ok_json(mirror_command(server, "add", owner, static.url, "--proxy", "--json"))
        code, report = ophis_create(home, tmp_path / "env", server.conda(owner), "dependent")
    assert code == 0, report
    assert linked(report) == {"dependent": "1.0", "dependency": "1.0"}
