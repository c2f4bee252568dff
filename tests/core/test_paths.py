"""The one check for paths and names that come from metadata (ophis.core.paths), and
read_package refusing every hostile case of the corpus, in both formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.core.errors import InvalidPackageError
from ophis.core.package_file import read_package
from ophis.core.paths import (
    UnsafeRecordError,
    check_record_fields,
    resolve_inside,
    unsafe_path_reason,
)
from ophis.testing.hostile import FORMATS, METADATA_CASES, HostileCase, LinkChain


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "'..'"),
        ("a/../../x", "'..'"),
        ("/etc/passwd", "absolute"),
        ("C:/x", "drive"),
        ("c:x", "drive"),
        ("a\\..\\x", "backslash"),
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("", "empty"),
        ("a//b", "normalised"),
        ("./a", "normalised"),
        ("a/", "normalised"),
        (None, "not a string"),
    ],
)
def test_unsafe_relative_paths_are_named(path: object, reason: str) -> None:
    found = unsafe_path_reason(path)
    assert found is not None and reason in found


@pytest.mark.parametrize("path", ["bin/python", "lib/python3.12/site-packages/a..b/c.py", "a b"])
def test_plain_relative_paths_pass(path: str) -> None:
    assert unsafe_path_reason(path) is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", METADATA_CASES, ids=lambda c: c.name)
def test_read_package_refuses_metadata_naming_a_path_outside(
    case: HostileCase, fmt: str, tmp_path: Path
) -> None:
    package = case.build(tmp_path, fmt)
    with pytest.raises(InvalidPackageError) as refused:
        read_package(package)
    assert package.name in str(refused.value)
    assert f"'{case.entry}'" in str(refused.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_package_of_a_link_chain_is_harmless_alone(fmt: str, tmp_path: Path) -> None:
    for package in LinkChain().build(tmp_path, fmt).values():
        read_package(package)


def test_resolve_inside_follows_links_and_stops_at_the_root() -> None:
    links = {"x": ".", "l": "x/..", "ok": "lib", "loop": "loop", "abs": "/etc"}
    assert resolve_inside(["ok", "f"], links.get) == ["lib", "f"]
    assert resolve_inside(["x", "x", "f"], links.get) == ["f"]
    assert resolve_inside(["l", "f"], links.get) is None
    assert resolve_inside(["loop"], links.get) is None
    assert resolve_inside(["abs", "f"], links.get) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("build", "0/../../x"),
        ("build", "0\x00"),
        ("version", "1/.."),
        ("name", "../x"),
        ("subdir", "../noarch"),
    ],
)
def test_record_fields_that_would_become_paths_are_checked(field: str, value: str) -> None:
    record = {"name": "a", "version": "1.0", "build": "0", "subdir": "noarch", field: value}
    with pytest.raises(UnsafeRecordError) as refused:
        check_record_fields("https://example.invalid/c", "a-1.0-0.conda", record)
    assert "a-1.0-0.conda" in str(refused.value) and repr(value) in str(refused.value)
    assert "https://example.invalid/c" in str(refused.value)


def test_a_file_name_with_a_directory_is_refused() -> None:
    record = {"name": "a", "version": "1.0", "build": "0"}
    with pytest.raises(UnsafeRecordError):
        check_record_fields("c", "../a-1.0-0.conda", record)
    check_record_fields("c", "a-1.0-0.conda", record)
