"""Repodata documents and hotfixes, on rattler's real patch test channel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.core.repodata import (
    apply_patch_instructions,
    build_current_repodata,
    build_repodata,
)

CROSS_310 = "cross-python_emscripten-32-3.10.1-h60d57d3_8"
EMSCRIPTEN = "emscripten_emscripten-32-3.1.27-h60d57d3_5"


@pytest.fixture
def patch_dir(testdata: Path) -> Path:
    return testdata / "rattler" / "channels" / "patch" / "linux-64"


def load(path: Path) -> dict:
    return json.loads(path.read_bytes())


def test_package_patch_replaces_fields_and_reaches_the_conda_twin(patch_dir: Path) -> None:
    raw = load(patch_dir / "repodata_from_packages.json")
    patched = apply_patch_instructions(raw, load(patch_dir / "patch_instructions.json"))
    for filename, key in (
        (f"{CROSS_310}.tar.bz2", "packages"),
        (f"{CROSS_310}.conda", "packages.conda"),
    ):
        record = patched[key][filename]
        assert record["license"] == "WOLF LICENSE"
        assert record["constrains"] == ["curl >5.0"]
        assert "wolfssl 12.0" in record["depends"]
        assert record["sha256"] == raw[key][filename]["sha256"]  # untouched keys stay
    # a packages.conda patch applies to that .conda file only
    assert (
        patched["packages.conda"]["cross-python_emscripten-32-3.12.1-h60d57d3_8.conda"]["license"]
        == "WOLF LICENSE II"
    )
    assert raw["packages"][f"{CROSS_310}.tar.bz2"].get("license") is None  # input not mutated


def test_remove_drops_both_formats_and_lists_them(patch_dir: Path) -> None:
    raw = load(patch_dir / "repodata_from_packages.json")
    patched = apply_patch_instructions(raw, load(patch_dir / "patch_instructions_2.json"))
    assert patched["packages"] == {}
    assert list(patched["packages.conda"]) == ["cross-python_emscripten-32-3.12.1-h60d57d3_8.conda"]
    assert patched["removed"] == sorted(
        [f"{CROSS_310}.tar.bz2", f"{CROSS_310}.conda", f"{EMSCRIPTEN}.tar.bz2"]
    )


def test_remove_of_a_missing_file_changes_nothing(patch_dir: Path) -> None:
    raw = load(patch_dir / "repodata_from_packages.json")
    patched = apply_patch_instructions(raw, load(patch_dir / "patch_instructions_3.json"))
    assert patched["removed"] == [f"{CROSS_310}.conda"]
    assert len(patched["packages"]) == 2


def test_new_keys_are_added(patch_dir: Path) -> None:
    raw = load(patch_dir / "repodata_from_packages.json")
    patched = apply_patch_instructions(raw, load(patch_dir / "patch_instructions_4.json"))
    purls = ["pkg:pypi/cross-python@3.10.1"]
    assert patched["packages"][f"{CROSS_310}.tar.bz2"]["purls"] == purls
    assert patched["packages.conda"][f"{CROSS_310}.conda"]["purls"] == purls


def test_null_deletes_a_key(patch_dir: Path) -> None:
    raw = load(patch_dir / "repodata_from_packages_5.json")
    patched = apply_patch_instructions(raw, load(patch_dir / "patch_instructions_5.json"))
    record = patched["packages.conda"]["pytorch-cpu-2.6.0-cpu_mkl_h8b52ce0_104.conda"]
    assert "track_features" not in record
    assert record["build_number"] == 104


def test_current_repodata_prefers_conda_and_records_the_legacy_twin() -> None:
    record = {"name": "z", "version": "1.0", "build": "0", "build_number": 0, "depends": []}
    repodata = build_repodata(
        "linux-64",
        {
            "z-1.0-0.tar.bz2": {**record, "md5": "a" * 32, "size": 10},
            "z-1.0-0.conda": {**record, "md5": "b" * 32, "size": 8},
            "z-0.9-0.conda": {**record, "version": "0.9", "md5": "c" * 32, "size": 8},
        },
    )
    current = build_current_repodata(repodata)
    assert current["packages"] == {}
    assert list(current["packages.conda"]) == ["z-1.0-0.conda"]
    kept = current["packages.conda"]["z-1.0-0.conda"]
    assert (kept["legacy_bz2_md5"], kept["legacy_bz2_size"]) == ("a" * 32, 10)


def test_repodata_v2_carries_base_url() -> None:
    repodata = build_repodata("noarch", {}, base_url="https://example.org/pkgs")
    assert repodata["repodata_version"] == 2
    assert repodata["info"] == {"subdir": "noarch", "base_url": "https://example.org/pkgs"}
