"""Cleaning the package cache: only what no environment needs goes."""

from __future__ import annotations

import os
from pathlib import Path

from ophis.manager.clean import KINDS, execute_clean, plan_clean


def extracted(pkgs: Path, name: str) -> Path:
    package = pkgs / name
    (package / "info").mkdir(parents=True)
    (package / "info" / "index.json").write_text("{}")
    (package / "lib").mkdir()
    (package / "lib" / "data.txt").write_text("x" * 100)
    return package


def test_clean_removes_caches_tarballs_temp_files_and_only_unused_packages(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    (pkgs / "cache").mkdir(parents=True)
    (pkgs / "cache" / "abc.json").write_text("{}" * 50)
    (pkgs / "a-1-0.conda").write_bytes(b"a" * 10)
    (pkgs / "b-1-0.tar.bz2").write_bytes(b"b" * 20)
    (pkgs / "c-1-0.conda.partial").write_bytes(b"c" * 5)
    used = extracted(pkgs, "used-1-0")
    unused = extracted(pkgs, "unused-1-0")
    environment = tmp_path / "env" / "lib"
    environment.mkdir(parents=True)
    os.link(used / "lib" / "data.txt", environment / "data.txt")

    plan = plan_clean([pkgs, tmp_path / "missing"], KINDS)
    assert plan["index_cache"].paths == [pkgs / "cache"]
    assert plan["index_cache"].total_size == 100
    assert plan["tarballs"].paths == [pkgs / "a-1-0.conda", pkgs / "b-1-0.tar.bz2"]
    assert plan["tarballs"].total_size == 30
    assert plan["packages"].paths == [unused]
    assert plan["tempfiles"].paths == [pkgs / "c-1-0.conda.partial"]

    execute_clean(plan)
    assert sorted(p.name for p in pkgs.iterdir()) == ["used-1-0"]
    assert (environment / "data.txt").read_text() == "x" * 100


def test_planning_alone_changes_nothing(tmp_path: Path) -> None:
    pkgs = tmp_path / "pkgs"
    pkgs.mkdir()
    (pkgs / "a-1-0.conda").write_bytes(b"a")
    plan_clean([pkgs], ["tarballs"])
    assert (pkgs / "a-1-0.conda").exists()
