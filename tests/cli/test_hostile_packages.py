"""Hostile packages and channels against the ``ophis`` command: whatever their metadata
names, nothing outside the environment, the package cache or the channel changes, and the
user is told which package and which entry was refused.

The corpus is built by the tests (``ophis.testing.hostile``), in both package formats.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ophis.testing.cli import ok_json, ophis
from ophis.testing.hostile import (
    FORMATS,
    METADATA_CASES,
    VICTIM_TEXT,
    HostileCase,
    LinkChain,
    Snapshot,
    plant_victim,
    snapshot,
    write_repodata,
)
from ophis.testing.packages import make_package

CHAIN = LinkChain()
#: packages harmless on their own, which an install may put into the package cache
HARMLESS = ("plain", CHAIN.dot, CHAIN.up, CHAIN.writer)


@pytest.fixture(scope="module", params=FORMATS)
def hostile_channel(request: pytest.FixtureRequest, tmp_path_factory) -> tuple[str, Path]:
    """The whole corpus in one format, listed in a repodata.json nobody checked."""
    fmt = request.param
    channel = tmp_path_factory.mktemp("hostile") / "channel"
    noarch = channel / "noarch"
    built = [case.build(noarch, fmt) for case in METADATA_CASES]
    built += CHAIN.build(noarch, fmt).values()
    built.append(make_package(noarch, "plain", files={"share/plain.txt": b"x"}, fmt=fmt))
    write_repodata(channel, built)
    return fmt, channel


@pytest.fixture
def env(tmp_path: Path, home: dict[str, str]) -> Path:
    """Where the environment goes; a sentinel file sits beside it and in the package cache."""
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    pkgs.mkdir(parents=True, exist_ok=True)
    plant_victim(tmp_path)
    plant_victim(pkgs)
    return tmp_path / "env"


def around(env: Path, home: dict[str, str], *, extracting: bool = False) -> Snapshot:
    """Everything beside the environment, the package cache included (but not its lock;
    nor, when the test lets harmless packages be ``extracting``, their cache entries)."""
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    skip = [env, Path(home["HOME"]), Path(home["OPHIS_ROOT_PREFIX"]), pkgs / ".cache.lock"]
    if extracting:
        skip += [pkgs / f"{name}-1.0-0{end}" for name in HARMLESS for end in ("", ".lock")]
    return snapshot(env.parent, *skip)


def create(
    home: dict[str, str], env: Path, channel: Path, *specs: str
) -> subprocess.CompletedProcess:
    source = ["--override-channels", "-c", channel.as_uri()]
    return ophis(home, "create", "-p", str(env), *source, *specs, "-y", "--json")


def install(
    home: dict[str, str], env: Path, channel: Path, *specs: str
) -> subprocess.CompletedProcess:
    source = ["--override-channels", "-c", channel.as_uri()]
    return ophis(home, "install", "-p", str(env), *source, *specs, "-y", "--json")


def refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout + result.stderr
    return json.loads(result.stdout)["error"]


@pytest.mark.parametrize("case", METADATA_CASES, ids=lambda c: c.name)
def test_install_refuses_metadata_naming_paths_outside(
    case: HostileCase, hostile_channel, home, env
) -> None:
    fmt, channel = hostile_channel
    outside = around(env, home)
    error = refusal(create(home, env, channel, case.name))
    assert f"{case.name}-1.0-0{fmt}" in error and f"'{case.entry}'" in error
    outside.assert_unchanged()
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    assert not (pkgs / f"{case.name}-1.0-0").exists()  # nothing half-extracted either


def test_index_refuses_every_hostile_package_and_lists_the_rest(hostile_channel, tmp_path) -> None:
    fmt, source = hostile_channel
    channel = tmp_path / "channel"
    shutil.copytree(source, channel)
    (channel / "noarch" / "repodata.json").unlink()
    outside = snapshot(tmp_path, channel)

    summary = json.loads(ophis(os.environ.copy(), "index", str(channel), "--json").stdout)

    rejected = {r["filename"]: r["error"] for r in summary["rejected"]}
    for case in METADATA_CASES:
        assert f"'{case.entry}'" in rejected[f"{case.name}-1.0-0{fmt}"]
    indexed = json.loads((channel / "noarch" / "repodata.json").read_text())
    listed = {r["name"] for key in ("packages", "packages.conda") for r in indexed[key].values()}
    assert listed == {"plain", "chain-dot", "chain-up", "chain-writer"}
    outside.assert_unchanged()


def test_mirror_does_not_publish_hostile_packages(hostile_channel, home, tmp_path) -> None:
    fmt, channel = hostile_channel
    dest = tmp_path / "mirror"
    plant_victim(tmp_path)
    outside = snapshot(tmp_path, dest, Path(home["HOME"]))

    result = ophis(home, "mirror", channel.as_uri(), str(dest), "-s", "noarch", "--json")

    summary = json.loads(result.stdout)
    assert result.returncode == 1 and summary["success"] is False
    failures = {f["filename"]: f["error"] for f in summary["failures"]}
    for case in METADATA_CASES:
        assert f"'{case.entry}'" in failures[f"{case.name}-1.0-0{fmt}"]
    published = json.loads((dest / "noarch" / "repodata.json").read_text())
    names = {r["name"] for key in ("packages", "packages.conda") for r in published[key].values()}
    assert names == {"plain", "chain-dot", "chain-up", "chain-writer"}
    assert not any(p.name.startswith(("paths-", "files-")) for p in (dest / "noarch").iterdir())
    outside.assert_unchanged()


# --- symlinks across packages ----------------------------------------------------------------


def test_a_symlink_leading_out_through_an_installed_symlink_is_refused(
    hostile_channel, home, env
) -> None:
    _fmt, channel = hostile_channel
    chain = CHAIN
    ok_json(create(home, env, channel, chain.dot))
    outside = around(env, home, extracting=True)

    error = refusal(install(home, env, channel, chain.up))

    assert "chain-up-1.0-0" in error and "'l'" in error and "chain-dot" not in error
    assert "already in the environment" in error  # x, from the installed chain-dot
    outside.assert_unchanged()
    assert os.readlink(env / "x") == "." and not os.path.lexists(env / "l")
    # the refused transaction left the environment as it was
    assert {p["name"] for p in ok_json(ophis(home, "list", "-p", str(env), "--json"))} == {
        chain.dot
    }


def test_packages_of_one_transaction_cannot_chain_their_symlinks_out(
    hostile_channel, home, env
) -> None:
    _fmt, channel = hostile_channel
    chain = CHAIN
    outside = around(env, home, extracting=True)

    error = refusal(create(home, env, channel, chain.dot, chain.up, chain.writer))

    assert "chain-dot-1.0-0" in error and "chain-up-1.0-0" in error
    outside.assert_unchanged()
    assert (env.parent / "victim.txt").read_bytes() == VICTIM_TEXT


def test_a_user_symlink_out_of_the_environment_is_never_written_through(
    hostile_channel, home, env, tmp_path
) -> None:
    _fmt, channel = hostile_channel
    ok_json(create(home, env, channel, LinkChain().dot))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, env / "share")  # "share" is where plain writes
    outside = around(env, home, extracting=True)

    error = refusal(install(home, env, channel, "plain"))

    assert "plain-1.0-0" in error and "'share/plain.txt'" in error and "'share'" in error
    outside.assert_unchanged()
    assert list(elsewhere.iterdir()) == []


# --- a tampered environment: remove, rollback, doctor -------------------------------------------


def tamper(env: Path, name: str, relative: str) -> None:
    """Make the installed record of ``name`` list ``relative`` (as a hostile package linked
    by an older version, or an edited record, would)."""
    [record_file] = (env / "conda-meta").glob(f"{name}-*.json")
    record = json.loads(record_file.read_text())
    record["files"].append(relative)
    record["paths_data"]["paths"].append(
        {"_path": relative, "path_type": "hardlink", "sha256": "0" * 64, "size_in_bytes": 1}
    )
    record_file.write_text(json.dumps(record))


def test_remove_never_deletes_what_a_record_names_outside(hostile_channel, home, env) -> None:
    _fmt, channel = hostile_channel
    ok_json(create(home, env, channel, "plain"))
    tamper(env, "plain", "../victim.txt")
    outside = around(env, home)

    error = refusal(ophis(home, "remove", "-p", str(env), "plain", "-y", "--json"))

    assert "plain-1.0-0" in error and "'../victim.txt'" in error
    outside.assert_unchanged()


def test_doctor_reports_and_fix_leaves_outside_paths_alone(hostile_channel, home, env) -> None:
    _fmt, channel = hostile_channel
    ok_json(create(home, env, channel, "plain"))
    tamper(env, "plain", "../victim.txt")
    outside = around(env, home)

    for fix in ([], ["--fix"]):
        result = ophis(home, "doctor", "-p", str(env), *fix, "-y", "--json")
        report = json.loads(result.stdout)
        assert result.returncode == 1 and report["healthy"] is False
        assert any("'../victim.txt'" in w and "plain" in w for w in report["warnings"])
    outside.assert_unchanged()


def test_rolling_back_an_interrupted_install_deletes_nothing_outside(
    hostile_channel, home, env
) -> None:
    """The journal of an install killed while linking names a package whose cached
    paths.json (extracted before these checks existed) lists a path outside."""
    _fmt, channel = hostile_channel
    ok_json(create(home, env, channel, "plain"))
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    poisoned = pkgs / "evil-1.0-0" / "info"
    poisoned.mkdir(parents=True)
    entries = [{"_path": "../victim.txt", "path_type": "hardlink"}]
    (poisoned / "paths.json").write_text(json.dumps({"paths": entries, "paths_version": 1}))
    journal = {
        "version": 1,
        "pid": 999_999_999,
        "prefix": str(env),
        "pkgs_dir": str(pkgs),
        "previous": [],
        "target": [{"name": "evil", "version": "1.0", "build": "0"}],
        "history_size": -1,
    }
    (env / "conda-meta" / ".ophis-transaction.journal").write_text(json.dumps(journal))
    outside = around(env, home)

    ophis(home, "doctor", "-p", str(env), "--fix", "-y", "--json")

    outside.assert_unchanged()
    assert (env.parent / "victim.txt").read_bytes() == VICTIM_TEXT
