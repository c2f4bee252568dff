"""``ophis index`` run the way a user runs it: as a command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ophis.testing.packages import make_package


def ophis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ophis", *args], capture_output=True, text=True, timeout=120
    )


def test_json_summary(tmp_path: Path) -> None:
    make_package(tmp_path / "noarch", "a", "1.0", "0")
    make_package(tmp_path / "linux-64", "b", "2.0", "0", subdir="linux-64")
    (tmp_path / "noarch" / "broken-1.0-0.tar.bz2").write_bytes(b"not a package")

    result = ophis("index", str(tmp_path), "--json")

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["success"] is True
    assert summary["packages"] == 2
    assert {s["subdir"] for s in summary["subdirs"]} == {"noarch", "linux-64"}
    assert [r["filename"] for r in summary["rejected"]] == ["broken-1.0-0.tar.bz2"]
    assert (tmp_path / "linux-64" / "repodata.json").exists()


def test_human_output_names_skipped_files(tmp_path: Path) -> None:
    make_package(tmp_path / "noarch", "a", "1.0", "0")
    (tmp_path / "noarch" / "broken-1.0-0.conda").write_bytes(b"")

    result = ophis("index", str(tmp_path))

    assert result.returncode == 0
    assert "Skipped" in result.stderr and "broken-1.0-0.conda" in result.stderr
    assert "noarch" in result.stdout


def test_missing_directory_fails_with_a_remedy(tmp_path: Path) -> None:
    result = ophis("index", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "is not a directory" in result.stderr
    assert "noarch/" in result.stderr  # says what to pass instead

    as_json = ophis("index", str(tmp_path / "nope"), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["exception_name"] == "ChannelIndexError"


def test_bad_subdir_option_is_refused(tmp_path: Path) -> None:
    result = ophis("index", str(tmp_path), "--subdir", "amiga-68k-nope!")
    assert result.returncode == 1
    assert "is not a conda subdir" in result.stderr
