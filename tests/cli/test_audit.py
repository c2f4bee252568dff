"""``ophis audit``: the installed packages with known vulnerabilities, from the sample feed
or from a real server that imported it, with --json and the --fail-on exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.indexer.channel_index import index_channel
from ophis.security import cve
from ophis.testing.cli import isolated_user, ok_json, ophis
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

FEED = Path(cve.__file__).parents[1] / "testing" / "data" / "cve-feed"
#: name -> (version, depends): zlib and openssl are in the feed's ranges, the rest are not
PACKAGES = {
    "zlib": ("1.2.11", []),
    "openssl": ("3.0.5", []),
    "requests": ("2.31.0", []),
    "python-dateutil": ("2.9.0", []),
    "app": ("1.0", ["zlib >=1.2", "openssl 3.*", "requests", "python-dateutil"]),
}
EXPECTED = [  # highest score first
    ("zlib", "CVE-2022-37434", 9.8, "critical"),
    ("openssl", "CVE-2022-3602", 7.5, "high"),
    ("zlib", "CVE-2018-25032", 7.5, "high"),
]


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    channel = tmp_path_factory.mktemp("audit") / "channel"
    for name, (version, depends) in PACKAGES.items():
        make_package(channel / "noarch", name, version, "0", depends=depends)
    index_channel(channel)
    return channel


@pytest.fixture(scope="module")
def environment(
    channel: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, str], Path]:
    """A real environment made by ``ophis create`` from the local channel, and its user
    (who keeps server logins in a file: no keyring)."""
    root = tmp_path_factory.mktemp("audit-user")
    home = isolated_user(root)
    home.update(
        OPHIS_CLIENT_CONFIG_DIR=str(root / "ophis"),
        BINSTAR_CONFIG_DIR=str(root / "binstar"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    prefix = root / "env"
    args = ("create", "-p", str(prefix), "--override-channels", "-c", channel.as_uri(), "app")
    ok_json(ophis(home, *args, "-y", "--json"))
    return home, prefix


def found(report: dict) -> list[tuple[str, str, float, str]]:
    return [(f["name"], f["id"], f["score"], f["severity"]) for f in report["findings"]]


def test_audit_with_a_local_feed_reports_exactly_the_affected_packages(
    environment: tuple[dict[str, str], Path],
) -> None:
    home, prefix = environment
    report = ok_json(ophis(home, "audit", "-p", str(prefix), "--feed", str(FEED), "--json"))
    assert found(report) == EXPECTED
    assert report["packages"] == len(PACKAGES)
    assert report["source"] == "feed" and report["where"] == str(FEED)
    assert report["failed"] is False and report["fail_on"] is None
    zlib = json.loads((prefix / "conda-meta" / "zlib-1.2.11-0.json").read_text())
    first = report["findings"][0]
    assert first["sha256"] == zlib["sha256"] and first["status"] == "reported"
    assert first["version"] == "1.2.11" and first["build"] == "0"
    assert "inflate" in first["summary"]

    table = ophis(home, "audit", "-p", str(prefix), "--feed", str(FEED))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert any(("zlib" in line and "CVE-2022-37434" in line and "9.8" in line) for line in lines)
    assert any(("openssl" in line and "CVE-2022-3602" in line) for line in lines)
    assert not any(name in table.stdout for name in ("requests", "python-dateutil", "app "))
    assert "3 known vulnerabilities in 2 package(s)." in table.stdout

    one_file = FEED / "CVE-2022-3602.json"
    only = ok_json(ophis(home, "audit", "-p", str(prefix), "--feed", str(one_file), "--json"))
    assert found(only) == [("openssl", "CVE-2022-3602", 7.5, "high")]


def test_fail_on_sets_the_exit_code(environment: tuple[dict[str, str], Path]) -> None:
    home, prefix = environment
    feed = ("--feed", str(FEED))
    above = ophis(home, "audit", "-p", str(prefix), *feed, "--fail-on", "9")
    assert above.returncode == 1
    assert "Failed: a vulnerability scores 9 or more (--fail-on)." in above.stderr
    as_json = ophis(home, "audit", "-p", str(prefix), *feed, "--fail-on", "7.5", "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["failed"] is True
    below = ophis(home, "audit", "-p", str(prefix), *feed, "--fail-on", "9.9", "--json")
    assert below.returncode == 0 and json.loads(below.stdout)["failed"] is False


def test_audit_errors_say_what_to_do(
    environment: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    home, prefix = environment
    nowhere = ophis(home, "audit", "-p", str(prefix), "--json")
    assert nowhere.returncode == 1
    error = json.loads(nowhere.stdout)
    assert error["message"] == "No server to talk to."
    assert "--feed" in error["remedy"] and "ophis login" in error["remedy"]
    missing = ophis(home, "audit", "-p", str(prefix), "--feed", str(tmp_path / "none.json"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    no_env = ophis(home, "audit", "-p", str(tmp_path / "no-env"), "--feed", str(FEED))
    assert no_env.returncode == 1 and "Not a conda environment" in no_env.stderr


# --- against a server ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, environment: tuple[dict[str, str], Path]
) -> Iterator[RunningServer]:
    """A real server that imported the sample feed, which the environment's user logged in
    to with `ophis login` (so it is their default server)."""
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        imported = running.ophis("cve", "import", str(FEED), "--json")
        assert imported.returncode == 0, imported.stdout + imported.stderr
        password = running.password + "\n"
        login = ophis(environment[0], "login", running.url, "-u", running.admin, answers=password)
        assert login.returncode == 0, login.stdout + login.stderr
        yield running


def test_audit_against_the_server_that_imported_the_feed(
    server: RunningServer, environment: tuple[dict[str, str], Path]
) -> None:
    home, prefix = environment
    report = ok_json(ophis(home, "audit", "-p", str(prefix), "--json"))
    assert report["source"] == "server" and report["where"] == server.api
    assert found(report) == EXPECTED
    assert {f["status"] for f in report["findings"]} == {"reported"}

    by_url = ophis(home, "audit", "-p", str(prefix), "--server", server.url, "--fail-on", "9")
    assert by_url.returncode == 1
    assert "CVE-2022-37434" in by_url.stdout and "requests" not in by_url.stdout


def test_audit_shows_the_curators_status_of_the_installed_file(
    server: RunningServer, environment: tuple[dict[str, str], Path], channel: Path
) -> None:
    """The server knows the installed zlib by its sha256 once that file is uploaded there,
    and answers with the status a curator gave it."""
    home, prefix = environment
    zlib = channel / "noarch" / "zlib-1.2.11-0.tar.bz2"
    uploaded = ophis(home, "upload", str(zlib), "--server", server.api, "--json")
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    curated = httpx.put(
        f"{server.api}/cves/CVE-2022-37434/files/{server.admin}/noarch/{zlib.name}",
        headers={"Authorization": f"token {server.login()}"},
        json={"status": "active", "reason": "inflateGetHeader is reachable"},
    )
    assert curated.status_code == 200, curated.text

    report = ok_json(ophis(home, "audit", "-p", str(prefix), "--server", server.url, "--json"))
    statuses = {(f["name"], f["id"]): (f["status"], f["reason"]) for f in report["findings"]}
    assert statuses[("zlib", "CVE-2022-37434")] == ("active", "inflateGetHeader is reachable")
    assert statuses[("zlib", "CVE-2018-25032")][0] == "reported"
    assert statuses[("openssl", "CVE-2022-3602")][0] == "reported"
    table = ophis(home, "audit", "-p", str(prefix), "--server", server.url)
    assert any("CVE-2022-37434" in line and "active" in line for line in table.stdout.splitlines())
