"""ophis.core.package_file: reading, validating, creating and safely extracting packages."""

from __future__ import annotations

import bz2
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from ophis.core import package_file
from ophis.core.errors import InvalidPackageError
from ophis.core.package_create import create_package
from ophis.core.package_file import (
    DEFAULT_LIMITS,
    PACKAGE_EXTENSIONS,
    ExtractionLimits,
    extract_package,
    read_package,
    split_package_filename,
    validate_package,
)
from ophis.testing.packages import build_number_from, make_package

MiB = 1024 * 1024

# --- helpers that build archives by hand (create_package refuses to make these) ------------


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member, data in members:
            tar.addfile(member, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes = b"moo\n") -> tuple[tarfile.TarInfo, bytes]:
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o644
    return member, data


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    member = tarfile.TarInfo(name)
    member.type = kind
    member.linkname = linkname
    member.mode = 0o777
    return member, None


def _index_member(stem: str) -> tuple[tarfile.TarInfo, bytes]:
    name, version, build = stem.rsplit("-", 2)
    index = {"name": name, "version": version, "build": build, "build_number": 0}
    return _file("info/index.json", json.dumps(index).encode())


def _write_tar_bz2(path: Path, tar: bytes) -> Path:
    path.write_bytes(bz2.compress(tar))
    return path


def _write_conda(path: Path, info_tar: bytes, pkg_tar: bytes | None, stem: str = "") -> Path:
    stem = stem or path.name.removesuffix(".conda")
    compress = zstandard.ZstdCompressor(level=1).compress
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        archive.writestr(f"info-{stem}.tar.zst", compress(info_tar))
        if pkg_tar is not None:
            archive.writestr(f"pkg-{stem}.tar.zst", compress(pkg_tar))
    return path


def _package_with(
    folder: Path, fmt: str, members: list[tuple[tarfile.TarInfo, bytes | None]]
) -> Path:
    """A validly named package whose payload is ``members``, in archive order."""
    stem = "handmade-1.0-0"
    if fmt == ".tar.bz2":
        return _write_tar_bz2(
            folder / f"{stem}.tar.bz2", _tar_bytes([_index_member(stem), *members])
        )
    return _write_conda(
        folder / f"{stem}.conda", _tar_bytes([_index_member(stem)]), _tar_bytes(members)
    )


def _snapshot(root: Path) -> dict[str, tuple]:
    """Everything under ``root``: type, size, mtime and link target of each entry."""
    seen: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            info = path.lstat()
            link = os.readlink(path) if path.is_symlink() else None
            seen[str(path.relative_to(root))] = (
                stat.S_IFMT(info.st_mode),
                info.st_size,
                info.st_mtime_ns,
                link,
            )
    return seen


def _rejects(
    path: Path, *, subdir: str | None = None, limits: ExtractionLimits = DEFAULT_LIMITS
) -> str:
    with pytest.raises(InvalidPackageError) as caught:
        read_package(path, subdir=subdir, limits=limits)
    assert caught.value.filename == path.name
    assert str(caught.value).startswith(f"{path.name}: ")
    assert caught.value.remedy
    return caught.value.rule


def _assert_extract_rejected(path: Path, destination: Path, rule_part: str, **kwargs) -> None:
    """extract_package fails with the rule, and leaves the whole tmp tree untouched."""
    root = destination.parent
    before = _snapshot(root)
    with pytest.raises(InvalidPackageError, match=rule_part):
        extract_package(path, destination, **kwargs)
    assert not destination.exists() and not destination.is_symlink()
    assert _snapshot(root) == before


# --- file names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("numpy-1.26.4-py311h_0.conda", ("numpy", "1.26.4", "py311h_0", ".conda")),
        (
            "font-ttf-inconsolata-23.12.6-0.tar.bz2",
            ("font-ttf-inconsolata", "23.12.6", "0", ".tar.bz2"),
        ),
        ("some/dir/zlib-1.2.11-h7b6447c_3.tar.bz2", ("zlib", "1.2.11", "h7b6447c_3", ".tar.bz2")),
    ],
)
def test_split_package_filename(filename: str, expected: tuple[str, ...]) -> None:
    assert split_package_filename(filename) == expected


@pytest.mark.parametrize(
    ("filename", "rule_part"),
    [
        ("numpy-1.26.4.conda", "is not <name>-<version>-<build>.conda"),
        ("-1.0-0.tar.bz2", "is not <name>-<version>-<build>.tar.bz2"),
        ("numpy-1.26.4-py311h_0.zip", "unknown extension"),
        ("numpy-1.26.4-py311h_0.tar.gz", "unknown extension"),
    ],
)
def test_split_package_filename_refuses(filename: str, rule_part: str) -> None:
    with pytest.raises(InvalidPackageError, match=rule_part):
        split_package_filename(filename)


def test_unknown_extension_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "thing-1.0-0.whl"
    path.write_bytes(b"PK")
    assert "unknown extension" in _rejects(path)


# --- conda's hostile tars ---------------------------------------------------------------

TRAVERSAL_RULES = {
    "absolute1": "contains an absolute path '/tmp/moo'",
    "absolute2": "contains an absolute path '//tmp/moo'",
    "dirsymlink": "symlink 'tmp' -> '/tmp' points outside the package",
    "dirsymlink2a": "symlink 'par' -> 'cur/..' points outside the package",
    "dirsymlink2b": "member 'cur/par' would be written through the symlink 'cur'",
    "relative0": "member '../moo' escapes the package root",
    "relative2": "member 'tmp/../../moo' escapes the package root",
    "symlink": "symlink 'moo' -> '/tmp/moo' points outside the package",
}
# where these tars would write if extracted naively (the relative ones land in tmp_path)
ABSOLUTE_TARGETS = [Path("/tmp/moo"), Path("/moo")]


def test_every_traversal_tar_has_an_expected_rule(testdata: Path) -> None:
    assert {p.stem for p in (testdata / "conda" / "tar_traversal").glob("*.tar")} == set(
        TRAVERSAL_RULES
    )


def _wrap_raw_tar(raw: Path, folder: Path, fmt: str) -> Path:
    stem = f"traversal-{raw.stem}-0"
    if fmt == ".conda":  # the raw tar, byte for byte, as the pkg component
        return _write_conda(
            folder / f"{stem}.conda", _tar_bytes([_index_member(stem)]), raw.read_bytes()
        )
    with tarfile.open(raw) as source:
        members = [
            (m, source.extractfile(m).read() if m.isreg() else None) for m in source.getmembers()
        ]
    return _write_tar_bz2(folder / f"{stem}.tar.bz2", _tar_bytes([_index_member(stem), *members]))


@pytest.mark.parametrize("fmt", PACKAGE_EXTENSIONS)
@pytest.mark.parametrize("case", sorted(TRAVERSAL_RULES))
def test_traversal_tars_are_rejected_and_write_nothing(
    testdata: Path, tmp_path: Path, case: str, fmt: str
) -> None:
    outside = {p: (p.lstat() if os.path.lexists(p) else None) for p in ABSOLUTE_TARGETS}
    package = _wrap_raw_tar(testdata / "conda" / "tar_traversal" / f"{case}.tar", tmp_path, fmt)
    before = _snapshot(tmp_path)

    assert TRAVERSAL_RULES[case] in _rejects(package)
    with pytest.raises(InvalidPackageError) as caught:
        validate_package(package)
    assert TRAVERSAL_RULES[case] in caught.value.rule
    with pytest.raises(InvalidPackageError) as caught:
        extract_package(package, tmp_path / "dest")
    assert TRAVERSAL_RULES[case] in caught.value.rule
    assert "malicious" in caught.value.remedy

    assert _snapshot(tmp_path) == before  # nothing at dest, no staging folder, no ../moo
    for path, state in outside.items():
        if state is None:
            assert not os.path.lexists(path), f"{path} was created"
        else:
            assert path.lstat().st_mtime_ns == state.st_mtime_ns


@pytest.mark.parametrize("fmt", PACKAGE_EXTENSIONS)
@pytest.mark.parametrize("case", sorted(TRAVERSAL_RULES))
def test_extraction_checks_again_while_writing(
    testdata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, fmt: str
) -> None:
    """Even if the file changed after validation (simulated by skipping it), the writing
    pass applies the same rules and leaves nothing behind."""
    package = _wrap_raw_tar(testdata / "conda" / "tar_traversal" / f"{case}.tar", tmp_path, fmt)
    monkeypatch.setattr(package_file, "validate_package", lambda *args, **kwargs: None)
    _assert_extract_rejected(package, tmp_path / "dest", re.escape(TRAVERSAL_RULES[case]))


# --- more hostile archives, made by hand ------------------------------------------------

HOSTILE = {
    "write-through-inside-symlink": (
        [_special("d", tarfile.SYMTYPE, "sub"), _file("d/x")],
        "member 'd/x' would be written through the symlink 'd'",
    ),
    "later-entry-replaces-symlink": (
        [_special("moo", tarfile.SYMTYPE, "target"), _file("moo")],
        "member 'moo' appears twice: a later entry replaces the symlink",
    ),
    "symlink-replaces-directory": (
        [_file("d/x"), _special("d", tarfile.SYMTYPE, "elsewhere")],
        "member 'd' would replace a directory",
    ),
    "duplicate-file": ([_file("a"), _file("a")], "member 'a' appears more than once"),
    "file-inside-a-file": ([_file("a"), _file("a/b")], "would be written inside the file 'a'"),
    "symlink-relative-escape": (
        [_special("lib/x", tarfile.SYMTYPE, "../../etc/passwd")],
        "symlink 'lib/x' -> '../../etc/passwd' points outside the package",
    ),
    "symlink-redirected-later": (
        [_special("a", tarfile.SYMTYPE, "b/.."), _special("b", tarfile.SYMTYPE, ".")],
        "symlink 'a' -> 'b/..' points outside the package",
    ),
    "symlink-loop": (
        [_special("a", tarfile.SYMTYPE, "b/x"), _special("b", tarfile.SYMTYPE, "a/x")],
        "has a symlink loop",
    ),
    "hardlink-outside": (
        [_special("h", tarfile.LNKTYPE, "../etc/passwd")],
        "hard link 'h' -> '../etc/passwd' points outside",
    ),
    "hardlink-absolute": (
        [_special("h", tarfile.LNKTYPE, "/etc/passwd")],
        "hard link 'h' -> '/etc/passwd' points outside",
    ),
    "hardlink-to-nothing": (
        [_special("h", tarfile.LNKTYPE, "missing")],
        "does not point to an earlier file",
    ),
    "device-file": ([_special("dev/sda", tarfile.BLKTYPE)], "contains a device file 'dev/sda'"),
    "char-device": ([_special("dev/null", tarfile.CHRTYPE)], "contains a device file"),
    "fifo": ([_special("pipe", tarfile.FIFOTYPE)], "contains a fifo 'pipe'"),
    "windows-drive": ([_file("C:/Windows/evil.dll")], "Windows-style path"),
    "windows-backslash": ([_file("..\\..\\evil.dll")], "Windows-style path"),
    "symlink-windows-target": (
        [_special("x", tarfile.SYMTYPE, "C:\\Windows")],
        "Windows-style target",
    ),
    "dotdot-inside": ([_file("a/../b")], "member 'a/../b' has a '..' path component"),
}


@pytest.mark.parametrize("fmt", PACKAGE_EXTENSIONS)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_are_rejected(tmp_path: Path, case: str, fmt: str) -> None:
    members, rule_part = HOSTILE[case]
    package = _package_with(tmp_path, fmt, members)
    assert rule_part in _rejects(package)
    _assert_extract_rejected(package, tmp_path / "dest", rule_part)


def test_symlinks_and_hardlinks_inside_the_package_are_fine(tmp_path: Path) -> None:
    members = [
        _file("share/terminfo/xterm"),
        _special("lib/terminfo", tarfile.SYMTYPE, "../share/terminfo"),
        _special("lib/dangling", tarfile.SYMTYPE, "not-there"),
        _special("bin/same", tarfile.LNKTYPE, "./share/terminfo/xterm"),
    ]
    package = _package_with(tmp_path, ".tar.bz2", members)
    read_package(package)
    extract_package(package, tmp_path / "dest")
    assert (tmp_path / "dest" / "lib" / "terminfo" / "xterm").read_bytes() == b"moo\n"
    assert os.readlink(tmp_path / "dest" / "lib" / "dangling") == "not-there"
    assert (tmp_path / "dest" / "bin" / "same").stat().st_ino == (
        tmp_path / "dest" / "share" / "terminfo" / "xterm"
    ).stat().st_ino


# --- corrupt and truncated files --------------------------------------------------------

CORRUPT_RULE = r"corrupt or truncated|not a conda package|is empty"


def test_conda_index_corrupt_packages_are_rejected(testdata: Path) -> None:
    corrupt = sorted(
        p
        for p in (testdata / "conda-index" / "index_data" / "corrupt").rglob("*")
        if p.name.endswith(PACKAGE_EXTENSIONS)
    )
    assert len(corrupt) == 2
    rules = {p.name: _rejects(p) for p in corrupt}
    assert rules == {
        "another_bad_package.conda": "is empty (0 bytes)",
        "bad_package.tar.bz2": "is corrupt or truncated: Invalid data stream",
    }


@pytest.mark.parametrize(
    "relative",
    [
        "conda-package-handling/mock-2.0.0-py37_1000.conda",
        "conda-package-handling/mock-2.0.0-py37_1000.tar.bz2",
        "conda/test-recipes/noarch/small-executable-1.0.0-0.conda",
        "conda/test-recipes/noarch/font-ttf-inconsolata-23.12.6-0.tar.bz2",
    ],
)
def test_truncated_packages_are_rejected(testdata: Path, tmp_path: Path, relative: str) -> None:
    original = testdata / relative
    data = original.read_bytes()
    truncated = tmp_path / original.name
    truncated.write_bytes(data[: len(data) // 2])
    assert "is corrupt or truncated" in _rejects(truncated)
    _assert_extract_rejected(truncated, tmp_path / "dest", "corrupt or truncated")


def test_truncated_pkg_component_inside_a_valid_zip_is_rejected(
    testdata: Path, tmp_path: Path
) -> None:
    source = testdata / "conda-package-handling" / "mock-2.0.0-py37_1000.conda"
    damaged = tmp_path / source.name
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(damaged, "w") as new:
        for entry in old.infolist():
            data = old.read(entry)
            new.writestr(
                entry, data[: len(data) // 2] if entry.filename.startswith("pkg-") else data
            )
    assert "corrupt or truncated" in _rejects(damaged)


def test_conda_without_info_component_is_not_a_package(tmp_path: Path) -> None:
    path = tmp_path / "x-1.0-0.conda"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    assert "is not a conda package" in _rejects(path)


def test_tarball_without_index_is_not_a_package(tmp_path: Path) -> None:
    path = _write_tar_bz2(tmp_path / "x-1.0-0.tar.bz2", _tar_bytes([_file("lib/a")]))
    assert _rejects(path) == "is not a conda package (no info/index.json)"


def test_unparseable_index_json_is_named(tmp_path: Path) -> None:
    path = _write_tar_bz2(
        tmp_path / "x-1.0-0.tar.bz2", _tar_bytes([_file("info/index.json", b"{nope")])
    )
    assert _rejects(path).startswith("info/index.json is not valid JSON")


def test_garbage_after_the_tar_end_is_rejected(tmp_path: Path) -> None:
    tar = _tar_bytes([_index_member("x-1.0-0")]) + b"\x01" * 512
    path = _write_tar_bz2(tmp_path / "x-1.0-0.tar.bz2", tar)
    assert "data after the end of the tar archive" in _rejects(path)


def test_bad_header_in_the_middle_is_rejected(tmp_path: Path) -> None:
    tar = bytearray(_tar_bytes([_index_member("x-1.0-0"), _file("lib/a"), _file("lib/b")]))
    second_header = 512 + 512  # index.json header + one block of data
    tar[second_header : second_header + 512] = b"\x7f" * 512
    path = _write_tar_bz2(tmp_path / "x-1.0-0.tar.bz2", bytes(tar))
    assert "bad tar header" in _rejects(path)


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_package(tmp_path / "absent-1.0-0.conda")


# --- rattler's odd but valid .conda files -----------------------------------------------


def test_sparse_dotslash_names_are_normalised(testdata: Path, tmp_path: Path) -> None:
    """'./info/index.json' and './lib/data.txt' are ordinary relative names: accepted."""
    package = testdata / "rattler" / "sparse" / "dotslash-test-1.0.0-0.conda"
    contents = read_package(package)
    assert contents.index["name"] == "dotslash-test"
    assert contents.info_files == {"info/index.json"}
    extract_package(package, tmp_path / "dest")
    assert (tmp_path / "dest" / "lib" / "data.txt").is_file()


def test_sparse_info_only_package_is_a_package_without_payload(
    testdata: Path, tmp_path: Path
) -> None:
    """No pkg component at all, like a metapackage: accepted, extracts only info/."""
    package = testdata / "rattler" / "sparse" / "info-only-1.0.0-0.conda"
    assert read_package(package).index["version"] == "1.0.0"
    extract_package(package, tmp_path / "dest")
    assert _snapshot(tmp_path / "dest").keys() == {"info", "info/index.json"}


def test_sparse_payload_before_info_is_found_by_name(testdata: Path, tmp_path: Path) -> None:
    """The 150 kB pkg component is stored before the info one: accepted (components are
    found by name, not position)."""
    package = testdata / "rattler" / "sparse" / "sparse-test-1.0.0-0.conda"
    contents = read_package(package)
    assert [p["_path"] for p in contents.paths] == [
        "bin/first-file.txt",
        "lib/blob.bin",
        "share/last-file.txt",
    ]
    extract_package(package, tmp_path / "dest")
    assert (tmp_path / "dest" / "lib" / "blob.bin").stat().st_size == 150_000


def test_sparse_symlink_inside_the_package_is_fine(testdata: Path, tmp_path: Path) -> None:
    """lib/liblink.so -> libreal.so.1 stays inside, lib/libhard.so hard-links an earlier
    file: accepted."""
    package = testdata / "rattler" / "sparse" / "symlink-test-1.0.0-0.conda"
    read_package(package)
    extract_package(package, tmp_path / "dest")
    lib = tmp_path / "dest" / "lib"
    assert os.readlink(lib / "liblink.so") == "libreal.so.1"
    assert (lib / "liblink.so").read_bytes() == (lib / "libreal.so.1").read_bytes()
    assert (lib / "libhard.so").read_bytes() == (lib / "libreal.so.1").read_bytes()


def test_sparse_zip64_records_are_fine(testdata: Path, tmp_path: Path) -> None:
    """zip64 end-of-directory records are ordinary zip: accepted."""
    package = testdata / "rattler" / "sparse" / "zip64-test-1.0.0-0.conda"
    assert read_package(package).index["name"] == "zip64-test"
    extract_package(package, tmp_path / "dest")
    assert (tmp_path / "dest" / "bin" / "hello.txt").is_file()


def test_zlib_conda_with_empty_symlink_targets_is_rejected(testdata: Path, tmp_path: Path) -> None:
    """conda itself fails on this file; its .tar.bz2 twin is intact and accepted."""
    folder = testdata / "conda" / "conda_format_repo" / "linux-64"
    bad = folder / "zlib-1.2.11-h7b6447c_3.conda"
    assert _rejects(bad) == "symlink 'lib/libz.so.1' has an empty target"
    _assert_extract_rejected(bad, tmp_path / "dest", "empty target")

    twin = folder / "zlib-1.2.11-h7b6447c_3.tar.bz2"
    expected = json.loads((folder / "repodata.json").read_text())["packages"][twin.name]
    assert read_package(twin, subdir="linux-64").repodata_record() == expected
    extract_package(twin, tmp_path / "twin")
    assert (tmp_path / "twin" / "lib" / "libz.so.1").is_file()


# --- lying metadata ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_name", "rule"),
    [
        (
            "other-package-1.0-0.tar.bz2",
            "index.json says name 'dummy-package' but the file name says 'other-package'",
        ),
        (
            "dummy-package-1.1-0.tar.bz2",
            "index.json says version '1.0' but the file name says '1.1'",
        ),
        ("dummy-package-1.0-1.tar.bz2", "index.json says build '0' but the file name says '1'"),
    ],
)
def test_renamed_package_is_rejected(
    testdata: Path, tmp_path: Path, new_name: str, rule: str
) -> None:
    source = (
        testdata
        / "conda-index"
        / "index_data"
        / "packages"
        / "osx-64"
        / "dummy-package-1.0-0.tar.bz2"
    )
    renamed = shutil.copy(source, tmp_path / new_name)
    assert _rejects(Path(renamed)) == rule


def test_renamed_conda_reports_the_lie_not_the_component_names(
    testdata: Path, tmp_path: Path
) -> None:
    source = testdata / "conda-package-handling" / "mock-2.0.0-py37_1000.conda"
    renamed = Path(shutil.copy(source, tmp_path / "mock-2.0.1-py37_1000.conda"))
    assert _rejects(renamed) == "index.json says version '2.0.0' but the file name says '2.0.1'"


def test_conda_components_named_for_another_file_are_rejected(tmp_path: Path) -> None:
    info = _tar_bytes([_index_member("a-1.0-0")])
    path = _write_conda(tmp_path / "a-1.0-0.conda", info, _tar_bytes([]), stem="b-1.0-0")
    assert "components are named for 'b-1.0-0'" in _rejects(path)


def test_subdir_mismatch_is_rejected(testdata: Path) -> None:
    package = (
        testdata
        / "conda-index"
        / "index_data"
        / "packages"
        / "osx-64"
        / "dummy-package-1.0-0.tar.bz2"
    )
    assert _rejects(package, subdir="noarch") == (
        "index.json says subdir 'osx-64' but the package sits in 'noarch'"
    )
    assert read_package(package, subdir="osx-64").index["subdir"] == "osx-64"
    assert read_package(package).index["subdir"] == "osx-64"  # no folder given: no check


# --- decompression bombs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("limits", "rule_part"),
    [
        (
            ExtractionLimits(max_total_bytes=4096),
            "expands to more than 4096 bytes (possible decompression bomb)",
        ),
        (
            ExtractionLimits(max_member_bytes=1000),
            "member 'share/zeros' is 10000 bytes, more than the limit",
        ),
        (ExtractionLimits(max_members=3), "has more than 3 members (possible decompression bomb)"),
    ],
)
@pytest.mark.parametrize("fmt", PACKAGE_EXTENSIONS)
def test_lowered_limits_stop_a_small_bomb(
    tmp_path: Path, fmt: str, limits: ExtractionLimits, rule_part: str
) -> None:
    package = make_package(tmp_path, "bomb", fmt=fmt, files={"share/zeros": bytes(10_000)})
    read_package(package)  # fine under the default limits
    assert rule_part in _rejects(package, limits=limits)
    _assert_extract_rejected(
        package, tmp_path / "dest", "possible decompression bomb", limits=limits
    )


def test_default_ratio_stops_forty_mib_of_zeros(tmp_path: Path) -> None:
    stem = "zeros-1.0-0"
    pkg = _tar_bytes([_file("share/zeros", bytes(40 * MiB))])
    package = _write_conda(tmp_path / f"{stem}.conda", _tar_bytes([_index_member(stem)]), pkg)
    assert package.stat().st_size < 40 * MiB / 1000
    assert "times its compressed size (possible decompression bomb)" in _rejects(package)
    _assert_extract_rejected(package, tmp_path / "dest", "decompression bomb")


def test_header_claiming_five_gib_is_refused_before_reading_data(tmp_path: Path) -> None:
    member = tarfile.TarInfo("share/huge")
    member.size = 5 * 1024**3
    header = member.tobuf(format=tarfile.GNU_FORMAT)
    tar = _tar_bytes([_index_member("huge-1.0-0")])[:1024] + header + bytes(4096)
    package = _write_tar_bz2(tmp_path / "huge-1.0-0.tar.bz2", tar)
    assert "member 'share/huge' is 5368709120 bytes, more than the limit" in _rejects(package)


# --- real packages: records as conda-index writes them ----------------------------------


def _expected_records(testdata: Path) -> list[tuple[Path, dict, str]]:
    """(package, record conda-index wrote for it, subdir) from real expected repodata."""
    cases = []
    for expected_file in [
        testdata / "conda-index/index_data/packages/noarch/repodata_from_packages.json",
        testdata / "conda-index/index_data/packages/osx-64/repodata_from_packages.json",
        testdata / "conda/test-recipes/noarch/repodata.json",
    ]:
        repodata = json.loads(expected_file.read_text())
        for key in ("packages", "packages.conda"):
            for filename, record in repodata.get(key, {}).items():
                cases.append((expected_file.parent / filename, record, repodata["info"]["subdir"]))
    return cases


def test_repodata_records_match_conda_index(testdata: Path) -> None:
    cases = _expected_records(testdata)
    assert len(cases) == 4 + 32
    mismatched = {
        path.name: (record, read_package(path, subdir=subdir).repodata_record())
        for path, record, subdir in cases
        if read_package(path, subdir=subdir).repodata_record() != record
    }
    assert mismatched == {}


def test_mock_in_both_formats(testdata: Path) -> None:
    folder = testdata / "conda-package-handling"
    records = {}
    for ext in PACKAGE_EXTENSIONS:
        path = folder / f"mock-2.0.0-py37_1000{ext}"
        contents = read_package(path, subdir="osx-64")
        data = path.read_bytes()
        assert (contents.size, contents.md5, contents.sha256) == (
            len(data),
            hashlib.md5(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        assert contents.index["depends"] == ["pbr >=1.3", "python >=3.7,<3.8.0a0", "six"]
        assert contents.about and contents.run_exports == {}
        assert "info/recipe/meta.yaml" in contents.info_files
        assert any(p["_path"].endswith("mock/__init__.py") for p in contents.paths)
        records[ext] = contents.repodata_record()
    for record in records.values():
        assert "arch" not in record and "platform" not in record
        assert record["build_number"] == 1000 and record["subdir"] == "osx-64"
        del record["md5"], record["sha256"], record["size"]
    assert records[".conda"] == records[".tar.bz2"]


def test_paths_from_info_files_when_paths_json_is_absent(testdata: Path) -> None:
    nano = read_package(testdata / "conda-index" / "archives" / "nano-2.4.1-0.tar.bz2")
    assert "info/paths.json" not in nano.info_files
    assert nano.paths[0] == {"_path": "bin/nano", "path_type": "hardlink"}
    assert len(nano.paths) == 48


# --- creating ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", PACKAGE_EXTENSIONS)
def test_create_read_extract_round_trip(tmp_path: Path, fmt: str) -> None:
    index = {
        "name": "round-trip",
        "version": "2.1",
        "build": "h1234_3",
        "build_number": 3,
        "depends": ["python >=3.11"],
        "subdir": "linux-64",
        "timestamp": 1_700_000_000_000,
    }
    about = {"summary": "a test", "license": "BSD-3-Clause"}
    run_exports = {"weak": ["round-trip >=2.1,<3"]}
    files = {
        "bin/tool": b"#!/bin/sh\necho hi\n",
        "lib/libx.so.1": b"\x7fELF...",
        "share/doc.txt": b"doc",
    }
    package = create_package(
        tmp_path / "out",
        index=index,
        files=files,
        symlinks={"lib/libx.so": "libx.so.1", "share/docs": "../share"},
        about=about,
        run_exports=run_exports,
        extra_info={"recipe/meta.yaml": b"package: {name: round-trip}\n"},
        fmt=fmt,
    )
    assert package == tmp_path / "out" / f"round-trip-2.1-h1234_3{fmt}"
    assert os.listdir(tmp_path / "out") == [package.name]  # no temporary left behind

    contents = read_package(package, subdir="linux-64")
    assert (contents.index, contents.about, contents.run_exports) == (index, about, run_exports)
    assert contents.info_files >= {"info/recipe/meta.yaml", "info/paths.json", "info/files"}
    by_path = {p["_path"]: p for p in contents.paths}
    assert by_path["bin/tool"] == {
        "_path": "bin/tool",
        "path_type": "hardlink",
        "sha256": hashlib.sha256(files["bin/tool"]).hexdigest(),
        "size_in_bytes": len(files["bin/tool"]),
    }
    assert by_path["lib/libx.so"]["path_type"] == "softlink"
    assert by_path["lib/libx.so"]["sha256"] == hashlib.sha256(files["lib/libx.so.1"]).hexdigest()

    dest = tmp_path / "prefix" / "pkgs" / "round-trip"
    extract_package(package, dest)
    for path, data in files.items():
        assert (dest / path).read_bytes() == data
    assert os.readlink(dest / "lib" / "libx.so") == "libx.so.1"
    assert (dest / "bin" / "tool").stat().st_mode & 0o100
    assert json.loads((dest / "info" / "index.json").read_text()) == index
    assert (dest / "info" / "files").read_text().splitlines() == sorted(
        [*files, "lib/libx.so", "share/docs"]
    )
    assert os.listdir(dest.parent) == ["round-trip"]  # staging folder renamed away


def test_create_is_reproducible_for_tarballs(tmp_path: Path) -> None:
    first = make_package(tmp_path / "a", "same", files={"a.txt": b"a"})
    second = make_package(tmp_path / "b", "same", files={"a.txt": b"a"})
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"index": {"name": "x", "version": "1"}}, "build"),
        ({"index": {"name": "x", "version": "1-2", "build": "0"}}, "cannot name"),
        ({"files": {"/etc/passwd": b""}}, "plain relative"),
        ({"files": {"a/../b": b""}}, "plain relative"),
        ({"files": {"info/x": b""}}, "extra_info"),
        ({"extra_info": {"index.json": b"{}"}}, "cannot replace"),
        ({"fmt": ".zip"}, "fmt"),
    ],
)
def test_create_refuses_bad_input(tmp_path: Path, kwargs: dict, message: str) -> None:
    arguments = {"index": {"name": "x", "version": "1", "build": "0"}, **kwargs}
    with pytest.raises(ValueError, match=message):
        create_package(tmp_path, **arguments)
    assert list(tmp_path.iterdir()) == []


def test_make_package_writes_a_sane_index(tmp_path: Path) -> None:
    package = make_package(
        tmp_path, "tool", "1.2", "py311_4", subdir="linux-64", depends=["python"]
    )
    index = read_package(package, subdir="linux-64").index
    assert package.name == "tool-1.2-py311_4.tar.bz2"
    assert (index["build_number"], index["arch"], index["platform"]) == (4, "x86_64", "linux")
    assert index["depends"] == ["python"] and index["license"] == "BSD-3-Clause"
    noarch = read_package(make_package(tmp_path, "pure", fmt=".conda"), subdir="noarch").index
    assert (noarch["noarch"], noarch["arch"], noarch["platform"]) == ("generic", None, None)


@pytest.mark.parametrize(
    ("build", "number"), [("0", 0), ("py37_1000", 1000), ("h1_5", 5), ("py_", 0), ("abc", 0)]
)
def test_build_number_from(build: str, number: int) -> None:
    assert build_number_from(build) == number


# --- extraction edges -------------------------------------------------------------------


def test_extract_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    package = make_package(tmp_path, "x", files={"a.txt": b"a"})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_package(package, dest)
    assert os.listdir(dest) == ["keep"]


def test_extract_into_an_empty_destination(tmp_path: Path) -> None:
    package = make_package(tmp_path, "x", files={"a.txt": b"a"})
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_package(package, dest)
    assert (dest / "a.txt").read_text() == "a"


def test_extract_refuses_a_symlink_destination(tmp_path: Path) -> None:
    package = make_package(tmp_path, "x", files={"a.txt": b"a"})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "dest").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        extract_package(package, tmp_path / "dest")
    assert os.listdir(tmp_path / "elsewhere") == []
