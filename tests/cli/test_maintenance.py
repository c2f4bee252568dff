"""``ophis clean`` and ``ophis doctor`` on real environments made from a small channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package


@pytest.fixture(scope="module")
def files_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two packages with files: ``app`` needs ``lib``."""
    root = tmp_path_factory.mktemp("channel") / "files"
    (root / "noarch").mkdir(parents=True)
    make_package(root / "noarch", "lib", files={"lib/data.txt": b"data\n" * 50})
    make_package(root / "noarch", "app", depends=["lib"], files={"bin/app": b"#!/bin/sh\n"})
    index_channel(root)
    return root


def make_env(files_channel: Path, home: dict[str, str], name: str, url: str | None = None) -> Path:
    channel = ["--override-channels", "-c", url or files_channel.as_uri()]
    ok_json(ophis(home, "create", "-n", name, *channel, "app", "--json", "-y"))
    return Path(home["OPHIS_ROOT_PREFIX"]) / "envs" / name


def test_doctor_finds_missing_and_altered_files_and_fix_restores_them(
    files_channel: Path, home: dict[str, str]
) -> None:
    prefix = make_env(files_channel, home, "doc")
    healthy = ok_json(ophis(home, "doctor", "-n", "doc", "--json"))
    assert healthy["healthy"] is True and healthy["checked_packages"] == 2
    files = sorted(p for p in prefix.rglob("*") if p.is_file() and "conda-meta" not in p.parts)
    missing, altered = files[0], files[-1]
    missing.unlink()
    altered.write_text("changed by hand\n")

    sick = ophis(home, "doctor", "-n", "doc", "--json")
    assert sick.returncode == 1, sick.stdout + sick.stderr
    report = json.loads(sick.stdout)
    relative = {str(p.relative_to(prefix)) for p in (missing, altered)}
    found = {path for paths in report["missing_files"].values() for path in paths}
    found |= {path for paths in report["altered_files"].values() for path in paths}
    assert found == relative

    fixed = ophis(home, "doctor", "-n", "doc", "--fix", "-y")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert missing.exists() and altered.read_text() != "changed by hand\n"
    assert ok_json(ophis(home, "doctor", "-n", "doc", "--json"))["healthy"] is True


def test_clean_reports_sizes_and_frees_the_cache(files_channel: Path, home: dict[str, str]) -> None:
    with serve_directory(files_channel) as server:  # archives from HTTP channels stay in the cache
        make_env(files_channel, home, "cl", server.url)
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    tarballs = sorted(p.name for p in pkgs.glob("*.tar.bz2"))
    assert tarballs  # the archives were kept in the cache
    downloaded = (pkgs / "urls.txt").read_text().splitlines()  # conda's list of downloads
    assert sorted(url.rsplit("/", 1)[1] for url in downloaded) == tarballs

    dry = ok_json(ophis(home, "clean", "--all", "--dry-run", "--json"))
    # conda's schema: per package cache for tarballs and packages
    assert sorted(dry["tarballs"]["pkgs_dirs"][str(pkgs)]) == tarballs
    assert dry["tarballs"]["pkg_sizes"][str(pkgs)] == {
        p.name: p.stat().st_size for p in pkgs.glob("*.tar.bz2")
    }
    assert dry["tarballs"]["total_size"] == sum(p.stat().st_size for p in pkgs.glob("*.tar.bz2"))
    assert dry["packages"]["pkgs_dirs"] == {}  # both extracted packages are linked into "cl"
    assert dry["index_cache"]["files"] == [str(pkgs / "cache")]
    assert dry["tempfiles"] == [] and dry["logfiles"] == []
    assert list(pkgs.glob("*.tar.bz2"))

    ok_json(ophis(home, "clean", "--tarballs", "--index-cache", "--json"))
    assert not list(pkgs.glob("*.tar.bz2")) and not (pkgs / "cache").exists()
    ok_json(ophis(home, "env", "remove", "-n", "cl", "-y", "--json"))
    freed = ok_json(ophis(home, "clean", "--packages", "--json"))
    assert len(freed["packages"]["pkgs_dirs"][str(pkgs)]) == 2
    assert not [p for p in pkgs.iterdir() if (p / "info").is_dir()]


def test_clean_asks_before_removing(files_channel: Path, home: dict[str, str]) -> None:
    with serve_directory(files_channel) as server:
        make_env(files_channel, home, "ask", server.url)
    pkgs = Path(home["CONDA_PKGS_DIRS"])
    declined = ophis(home, "clean", "--tarballs", answers="n\n")
    assert declined.returncode == 0 and "Will remove" in declined.stdout
    assert list(pkgs.glob("*.tar.bz2"))
