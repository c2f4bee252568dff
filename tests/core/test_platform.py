from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from ophis.core.errors import InvalidPlatformError
from ophis.core.platform import (
    KNOWN_SUBDIRS,
    MachineFacts,
    detect_machine_facts,
    is_unix,
    linux_library_known,
    native_subdir,
    parse_subdir,
    platform_os,
    probes_needed,
    subdir_machine,
    subdirs_for,
    target_subdir,
)


@pytest.mark.parametrize("subdir", KNOWN_SUBDIRS)
def test_every_conda_subdir_is_accepted(subdir: str) -> None:
    assert parse_subdir(subdir) == subdir


@pytest.mark.parametrize(
    "subdir",
    [
        "linux-fake",  # conda's test-recipes channel
        "osx-fake",
        "win-fake",
        "linux-loongarch64",  # known to py-rattler, not to conda
        "freebsd-arm64",
    ],
)
def test_fake_and_newer_subdirs_are_accepted(subdir: str) -> None:
    assert parse_subdir(subdir) == subdir


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("foo", "'<os>-<arch>'"),
        ("", "'<os>-<arch>'"),
        ("linux-", "'<os>-<arch>'"),
        ("plan9-64", "unknown operating system 'plan9'"),
        ("linux-6 4", "characters"),
        ("Linux-64", "unknown operating system"),
    ],
)
def test_invalid_subdirs_say_what_is_wrong(value: str, fragment: str) -> None:
    with pytest.raises(InvalidPlatformError) as info:
        parse_subdir(value)
    message = str(info.value)
    assert f"{value!r} is not a conda platform" in message
    assert fragment in message
    assert "linux-64" in info.value.remedy


@pytest.mark.parametrize(
    ("subdir", "os_name", "unix"),
    [
        ("linux-64", "linux", True),
        ("linux-fake", "linux", True),
        ("osx-arm64", "osx", True),
        ("freebsd-64", "freebsd", True),
        ("win-64", "win", False),
        ("emscripten-wasm32", "emscripten", False),
        ("zos-z", "zos", False),
        ("noarch", "noarch", False),
    ],
)
def test_os_of_a_subdir(subdir: str, os_name: str, unix: bool) -> None:
    assert platform_os(subdir) == os_name
    assert is_unix(subdir) is unix


def test_subdirs_for_adds_noarch_once() -> None:
    assert subdirs_for("linux-64") == ("linux-64", "noarch")
    assert subdirs_for("noarch") == ("noarch",)


def facts(sys_platform: str, machine: str, bits: int = 64) -> MachineFacts:
    return MachineFacts(sys_platform=sys_platform, machine=machine, bits=bits)


@pytest.mark.parametrize(
    ("machine_facts", "expected"),
    [
        (facts("linux", "x86_64"), "linux-64"),
        (facts("linux", "i686", 32), "linux-32"),
        (facts("linux", "aarch64"), "linux-aarch64"),
        (facts("linux", "ppc64le"), "linux-ppc64le"),
        (facts("linux", "riscv64"), "linux-riscv64"),
        (facts("darwin", "x86_64"), "osx-64"),
        (facts("darwin", "arm64"), "osx-arm64"),
        (facts("win32", "AMD64"), "win-64"),
        (facts("win32", "ARM64"), "win-arm64"),
        (facts("win32", "x86", 32), "win-32"),
        (facts("freebsd14", "amd64"), "freebsd-64"),
        (facts("zos", "s390"), "zos-z"),
        (facts("emscripten", "wasm32", 32), "emscripten-wasm32"),
    ],
)
def test_native_subdir(machine_facts: MachineFacts, expected: str) -> None:
    assert native_subdir(machine_facts) == expected


def test_native_subdir_of_an_unnamed_os_points_at_conda_subdir() -> None:
    with pytest.raises(InvalidPlatformError, match=re.escape("sys.platform 'sunos5'")) as info:
        native_subdir(facts("sunos5", "i86pc"))
    assert "CONDA_SUBDIR" in info.value.remedy


def test_conda_subdir_overrides_the_native_subdir() -> None:
    host = facts("linux", "x86_64")
    assert target_subdir(host, {}) == "linux-64"
    assert target_subdir(host, {"CONDA_SUBDIR": ""}) == "linux-64"
    assert target_subdir(host, {"CONDA_SUBDIR": "osx-arm64"}) == "osx-arm64"
    with pytest.raises(InvalidPlatformError):
        target_subdir(host, {"CONDA_SUBDIR": "macos"})


@pytest.mark.parametrize(
    ("subdir", "machine"),
    [
        ("linux-64", "x86_64"),
        ("win-32", "x86"),
        ("osx-arm64", "arm64"),
        ("linux-aarch64", "aarch64"),
        ("emscripten-wasm32", None),
        ("zos-z", None),
        ("linux-fake", None),
        ("noarch", None),
    ],
)
def test_machine_named_by_a_subdir(subdir: str, machine: str | None) -> None:
    assert subdir_machine(subdir) == machine


def test_detected_facts_describe_a_real_platform() -> None:
    detected = detect_machine_facts(cuda=False)
    assert parse_subdir(native_subdir(detected)) == native_subdir(detected)
    assert detected.cuda_version is None


def test_a_library_is_found_where_the_dynamic_loader_looks(tmp_path: Path) -> None:
    """The CUDA driver is looked for without starting ldconfig, gcc or ld: in the loader's
    cache, on LD_LIBRARY_PATH and in the system folders."""
    cache = tmp_path / "ld.so.cache"
    cache.write_bytes(b"glibc-ld.so.cache1.1\0libz.so.1\0/usr/lib/libz.so.1\0")
    on_path = tmp_path / "drivers"
    on_path.mkdir()
    (on_path / "libcuda.so.1").touch()
    system = tmp_path / "lib"
    system.mkdir()
    known = functools.partial(linux_library_known, cache=str(cache), dirs=(str(system),))
    assert known(["libz.so.1"], "")
    assert not known(["libcuda.so.1", "libcuda.so"], "")
    assert known(["libcuda.so.1", "libcuda.so"], f"/nowhere:{on_path}")
    (system / "libcuda.so").touch()
    assert known(["libcuda.so.1", "libcuda.so"], "")


def test_only_the_probes_no_override_replaces_are_run() -> None:
    assert probes_needed({}) == {"cuda": True, "microarchitecture": True}
    assert probes_needed({"CONDA_OVERRIDE_CUDA": ""}) == {"cuda": False, "microarchitecture": True}
    assert probes_needed({"CONDA_OVERRIDE_ARCHSPEC": "x86_64"})["microarchitecture"] is False
