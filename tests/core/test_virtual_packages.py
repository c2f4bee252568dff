from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
import rattler
from rattler.exceptions import SolverError

from ophis.core.errors import OphisError
from ophis.core.platform import MachineFacts, native_subdir, platform_os
from ophis.core.virtual_packages import (
    VirtualPackageSpec,
    detect_machine_facts,
    detect_virtual_packages,
    to_rattler,
)

LINUX_HOST = MachineFacts(
    sys_platform="linux",
    machine="x86_64",
    kernel_release="6.8.0-45-generic",
    libc_family="glibc",
    libc_version="2.35",
    microarchitecture="skylake",
)
MAC_HOST = MachineFacts(
    sys_platform="darwin", machine="arm64", osx_version="14.5", microarchitecture="m1"
)
WIN_HOST = MachineFacts(
    sys_platform="win32",
    machine="AMD64",
    windows_version="10.0.22631",
    microarchitecture="zen3",
)


def packages(subdir: str, facts: MachineFacts, **env: str) -> dict[str, str]:
    """name → "version=build", the way ``conda info`` lists virtual packages."""
    found = detect_virtual_packages(subdir, facts, env)
    return {p.name: f"{p.version}={p.build}" for p in found}


def test_native_linux() -> None:
    assert packages("linux-64", LINUX_HOST) == {
        "__archspec": "1=skylake",
        "__glibc": "2.35=0",
        "__linux": "6.8.0=0",
        "__unix": "0=0",
    }


def test_native_macos() -> None:
    assert packages("osx-arm64", MAC_HOST) == {
        "__archspec": "1=m1",
        "__osx": "14.5=0",
        "__unix": "0=0",
    }


def test_native_windows() -> None:
    assert packages("win-64", WIN_HOST) == {"__archspec": "1=zen3", "__win": "10.0.22631=0"}


@pytest.mark.parametrize(
    ("subdir", "expected"),
    [
        ("linux-aarch64", {"__archspec", "__glibc", "__linux", "__unix"}),
        ("linux-fake", {"__glibc", "__linux", "__unix"}),
        ("osx-64", {"__archspec", "__osx", "__unix"}),
        ("freebsd-64", {"__archspec", "__unix"}),
        ("win-arm64", {"__archspec", "__win"}),
        ("emscripten-wasm32", set()),
        ("wasi-wasm32", set()),
        ("zos-z", set()),
    ],
)
def test_the_target_subdir_decides_which_packages_exist(subdir: str, expected: set[str]) -> None:
    assert set(packages(subdir, LINUX_HOST)) == expected


def test_another_os_gets_zero_versions_not_invented_defaults() -> None:
    assert packages("osx-arm64", LINUX_HOST) == {
        "__archspec": "1=arm64",  # the target's machine, not the host CPU
        "__osx": "0=0",
        "__unix": "0=0",
    }
    assert packages("win-64", MAC_HOST)["__win"] == "0=0"
    assert packages("linux-64", MAC_HOST) == {
        "__archspec": "1=x86_64",
        "__glibc": "0=0",
        "__linux": "0=0",
        "__unix": "0=0",
    }


def test_cross_arch_on_the_same_os_keeps_the_host_os_versions() -> None:
    found = packages("linux-aarch64", LINUX_HOST)
    assert found["__glibc"] == "2.35=0"
    assert found["__archspec"] == "1=aarch64"


def test_musl_host_falls_back_to_glibc_zero() -> None:
    musl = MachineFacts(sys_platform="linux", machine="x86_64", kernel_release="6.1.0")
    assert packages("linux-64", musl)["__glibc"] == "0=0"


# --- overrides, exactly as conda applies them ---------------------------------------------


@pytest.mark.parametrize(
    ("subdir", "variable", "value", "name", "expected"),
    [
        ("linux-64", "CONDA_OVERRIDE_GLIBC", "2.17", "__glibc", "2.17=0"),
        ("linux-64", "CONDA_OVERRIDE_GLIBC", "  2.28 ", "__glibc", "2.28=0"),
        ("linux-64", "CONDA_OVERRIDE_GLIBC", "", "__glibc", None),
        ("linux-64", "CONDA_OVERRIDE_GLIBC", "   ", "__glibc", None),
        ("linux-64", "CONDA_OVERRIDE_LINUX", "5.15.0-rc1", "__linux", "5.15.0=0"),
        ("linux-64", "CONDA_OVERRIDE_LINUX", "abc", "__linux", "0=0"),
        ("linux-64", "CONDA_OVERRIDE_LINUX", "", "__linux", "0=0"),  # kept, unlike the others
        ("osx-64", "CONDA_OVERRIDE_OSX", "11.0", "__osx", "11.0=0"),
        ("osx-64", "CONDA_OVERRIDE_OSX", "", "__osx", None),
        ("win-64", "CONDA_OVERRIDE_WIN", "10.0.19045", "__win", "10.0.19045=0"),
        ("win-64", "CONDA_OVERRIDE_WIN", "", "__win", None),
        ("linux-64", "CONDA_OVERRIDE_ARCHSPEC", "x86_64_v3", "__archspec", "1=x86_64_v3"),
        ("linux-64", "CONDA_OVERRIDE_ARCHSPEC", "", "__archspec", None),
        ("emscripten-wasm32", "CONDA_OVERRIDE_ARCHSPEC", "wasm32", "__archspec", "1=wasm32"),
        ("linux-64", "CONDA_OVERRIDE_CUDA", "12.4", "__cuda", "12.4=0"),
        ("osx-arm64", "CONDA_OVERRIDE_CUDA", "11.8", "__cuda", "11.8=0"),
        ("linux-64", "CONDA_OVERRIDE_CUDA", "", "__cuda", None),
    ],
)
def test_override_variables(
    subdir: str, variable: str, value: str, name: str, expected: str | None
) -> None:
    assert packages(subdir, LINUX_HOST, **{variable: value}).get(name) == expected


def test_overrides_for_another_os_do_not_create_packages() -> None:
    found = packages("linux-64", LINUX_HOST, CONDA_OVERRIDE_OSX="11.0", CONDA_OVERRIDE_WIN="10")
    assert "__osx" not in found
    assert "__win" not in found


def test_unix_cannot_be_overridden() -> None:
    assert packages("linux-64", LINUX_HOST, CONDA_OVERRIDE_UNIX="")["__unix"] == "0=0"


def test_cuda_is_absent_without_a_driver_and_present_with_one() -> None:
    assert "__cuda" not in packages("linux-64", LINUX_HOST)
    with_driver = MachineFacts(sys_platform="linux", machine="x86_64", cuda_version="12.2")
    assert packages("linux-64", with_driver)["__cuda"] == "12.2=0"
    assert "__cuda" not in packages("linux-64", with_driver, CONDA_OVERRIDE_CUDA="")
    assert packages("linux-64", with_driver, CONDA_OVERRIDE_CUDA="11.8")["__cuda"] == "11.8=0"


def test_condarc_overrides_apply_when_the_variable_is_unset() -> None:
    config = {"glibc": "2.17", "cuda": "12.0"}
    found = detect_virtual_packages("linux-64", LINUX_HOST, {}, config_overrides=config)
    by_name = {p.name: p.version for p in found}
    assert (by_name["__glibc"], by_name["__cuda"]) == ("2.17", "12.0")
    env_wins = detect_virtual_packages(
        "linux-64", LINUX_HOST, {"CONDA_OVERRIDE_GLIBC": "2.28"}, config_overrides=config
    )
    assert {p.name: p.version for p in env_wins}["__glibc"] == "2.28"


def test_conda_version_adds_the_conda_package() -> None:
    found = detect_virtual_packages("linux-64", LINUX_HOST, {}, conda_version="25.1.0")
    assert VirtualPackageSpec("__conda", "25.1.0", "0") in found
    assert not any(p.name == "__conda" for p in detect_virtual_packages("linux-64", LINUX_HOST, {}))


def test_specs_print_like_conda_info() -> None:
    assert str(VirtualPackageSpec("__glibc", "2.35")) == "__glibc=2.35=0"


# --- py-rattler -----------------------------------------------------------------------------


def test_to_rattler_keeps_name_version_and_build() -> None:
    converted = to_rattler(detect_virtual_packages("linux-64", LINUX_HOST, {}))
    assert all(isinstance(p, rattler.GenericVirtualPackage) for p in converted)
    assert [(p.name.normalized, str(p.version), str(p.build_string)) for p in converted] == [
        ("__archspec", "1", "skylake"),
        ("__glibc", "2.35", "0"),
        ("__linux", "6.8.0", "0"),
        ("__unix", "0", "0"),
    ]


def test_an_override_that_is_no_version_is_reported_with_its_variable() -> None:
    found = detect_virtual_packages("linux-64", LINUX_HOST, {"CONDA_OVERRIDE_GLIBC": "2..17"})
    with pytest.raises(OphisError) as info:
        to_rattler(found)
    assert "__glibc" in info.value.message
    assert "CONDA_OVERRIDE_GLIBC" in info.value.remedy


def _tiny_channel(root: Path) -> Path:
    record = {
        "name": "needs-glibc",
        "version": "1.0",
        "build": "0",
        "build_number": 0,
        "depends": ["__glibc >=2.17"],
        "subdir": "linux-64",
        "md5": "0" * 32,
        "sha256": "0" * 64,
        "size": 1,
        "timestamp": 1_700_000_000_000,  # py-rattler's default policy drops undated records
    }
    packages_by_subdir = {"linux-64": {"needs-glibc-1.0-0.tar.bz2": record}, "noarch": {}}
    for subdir, records in packages_by_subdir.items():
        (root / subdir).mkdir(parents=True)
        repodata = {"info": {"subdir": subdir}, "packages": records, "packages.conda": {}}
        (root / subdir / "repodata.json").write_text(json.dumps(repodata))
    return root


def _solve(channel: Path, cache: Path, glibc: str) -> list[str]:
    virtual = to_rattler(
        detect_virtual_packages("linux-64", LINUX_HOST, {"CONDA_OVERRIDE_GLIBC": glibc})
    )
    records = asyncio.run(
        rattler.solve(
            [rattler.Channel(channel.as_uri())],
            ["needs-glibc"],
            gateway=rattler.Gateway(cache_dir=cache),
            platforms=["linux-64", "noarch"],
            virtual_packages=virtual,
        )
    )
    return [record.name.normalized for record in records]


def test_rattler_solver_honours_the_glibc_override(tmp_path: Path) -> None:
    channel = _tiny_channel(tmp_path / "channel")
    assert _solve(channel, tmp_path / "cache", "2.28") == ["needs-glibc"]
    with pytest.raises(SolverError, match=re.escape("__glibc >=2.17")):
        _solve(channel, tmp_path / "cache", "2.12")


def test_detected_facts_give_this_machine_its_os_package() -> None:
    facts = detect_machine_facts(cuda=False)
    subdir = native_subdir(facts)
    expected = {"linux": "__linux", "osx": "__osx", "win": "__win"}.get(platform_os(subdir))
    names = {p.name for p in detect_virtual_packages(subdir, facts, {})}
    if expected:
        assert expected in names
