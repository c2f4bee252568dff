"""Hostile archives (built here, see :mod:`ophis.testing.hostile_archives`) are refused by
reading and by extracting, with the package's name and the limit it broke, before the
hostile part is read into memory; index.json values the clients cannot read are refused
naming the field."""

from __future__ import annotations

import json
import resource
from collections.abc import Callable
from pathlib import Path

import pytest

from ophis.core import index_json, project_archive
from ophis.core.archive_limits import ExtractionLimits, zstd_window_size
from ophis.core.errors import InvalidPackageError
from ophis.core.package_create import create_package
from ophis.core.package_file import extract_package, read_package
from ophis.core.python_dist import read_python_distribution
from ophis.testing import hostile_archives as hostile
from ophis.testing.packages import make_index, make_package

MiB = 1024**2
GiB = 1024**3
FORMATS = hostile.FORMATS

#: (builder, what the refusal says); 64 MiB+ of zeros behind each header
HEADER_BOMBS: dict[str, tuple[Callable[[Path, str], Path], str]] = {
    "pax-size": (
        lambda d, f: hostile.pax_header_bomb(d, f, 64 * MiB),
        f"PAX tar header declaring {64 * MiB} bytes",
    ),
    "pax-long-path": (
        lambda d, f: hostile.pax_long_path(d, f, 2 * MiB),
        "PAX tar header declaring",
    ),
    "gnu-longname": (
        lambda d, f: hostile.gnu_long_bomb(d, f, 64 * MiB),
        f"GNU long name tar header declaring {64 * MiB} bytes",
    ),
    "gnu-longlink": (
        lambda d, f: hostile.gnu_long_bomb(d, f, 64 * MiB, link=True),
        f"GNU long link tar header declaring {64 * MiB} bytes",
    ),
    "pax-global": (
        lambda d, f: hostile.pax_global_bomb(d, f, 8 * MiB),
        "bytes of PAX global headers",
    ),
    "header-chain": (
        lambda d, f: hostile.header_chain(d, f, 3000),
        "extended tar headers in front of one member",
    ),
    "gnu-sparse": (lambda d, f: hostile.sparse_bomb(d, f, 50), "GNU sparse file"),
}


def refusal(path: Path, limits: ExtractionLimits | None = None) -> str:
    with pytest.raises(InvalidPackageError) as caught:
        read_package(path, **({"limits": limits} if limits else {}))
    return str(caught.value)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", sorted(HEADER_BOMBS))
def test_header_bombs_are_refused_before_their_payload_is_read(
    tmp_path: Path, case: str, fmt: str
) -> None:
    build, reason = HEADER_BOMBS[case]
    path = build(tmp_path, fmt)
    message = refusal(path)
    assert message.startswith(f"{path.name}: ") and reason in message
    with pytest.raises(InvalidPackageError, match=reason):
        extract_package(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_header_bomb_costs_no_memory(tmp_path: Path) -> None:
    """1 GiB of PAX records: tarfile alone would hold all of it (3 GB measured)."""
    path = hostile.pax_header_bomb(tmp_path, ".conda", GiB)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert "possible memory bomb" in refusal(path)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 50


@pytest.mark.parametrize("fmt", FORMATS)
def test_too_many_members(tmp_path: Path, fmt: str) -> None:
    path = hostile.many_members(tmp_path, fmt, 2000)
    assert "has more than 1000 members" in refusal(path, ExtractionLimits(max_members=1000))
    read_package(path)  # within the default limit


@pytest.mark.parametrize(
    ("build", "limits", "reason"),
    [
        (
            lambda d: hostile.many_members(d, ".conda", 100),
            ExtractionLimits(max_names_bytes=1000),
            "member names add up to more than 1000 bytes",
        ),
        (
            lambda d: hostile.pax_long_path(d, ".tar.bz2", 200_000),
            ExtractionLimits(max_header_total_bytes=100_000),
            "more than 100000 bytes of extended tar headers",
        ),
    ],
    ids=["names", "headers-in-all"],
)
def test_what_an_archive_keeps_in_memory_in_all_is_bounded(
    tmp_path: Path, build: Callable[[Path], Path], limits: ExtractionLimits, reason: str
) -> None:
    assert reason in refusal(build(tmp_path), limits)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("member", "limit"),
    [("info/index.json", MiB), ("info/paths.json", 64 * MiB), ("info/about.json", 8 * MiB)],
)
def test_oversized_metadata_is_refused_before_it_is_read(
    tmp_path: Path, fmt: str, member: str, limit: int
) -> None:
    path = hostile.oversized_metadata(tmp_path, fmt, member, limit + 1)
    limits = ExtractionLimits(max_ratio=1e9)  # the ratio check would refuse it first
    assert f"{member} is {limit + 1} bytes, more than the limit of {limit} bytes" in refusal(
        path, limits
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_paths_json_listing_more_paths_than_members_is_refused(tmp_path: Path, fmt: str) -> None:
    path = hostile.paths_listing_bomb(tmp_path, fmt, 5000)
    assert "info/paths.json lists 5000 paths but the package has only 2 members" in refusal(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decompression_bombs_in_info(tmp_path: Path, fmt: str) -> None:
    path = hostile.info_bomb(tmp_path, fmt, 40 * MiB)
    assert "times its compressed size (possible decompression bomb)" in refusal(path)
    limits = ExtractionLimits(max_ratio=1e9, max_info_bytes=32 * MiB)
    assert f"its info/ folder expands to more than {32 * MiB} bytes" in refusal(path, limits)


def test_a_zstd_frame_asking_for_a_huge_window_is_refused(tmp_path: Path) -> None:
    path = hostile.zstd_window_bomb(tmp_path, 30)
    assert f"needs a {GiB}-byte window, more than the limit of {128 * MiB} bytes" in refusal(path)
    read_package(hostile.zstd_window_bomb(tmp_path / "small", 20))  # a 1 MiB window is fine


def test_a_conda_zip_with_a_huge_directory_is_refused_before_zipfile_reads_it(
    tmp_path: Path,
) -> None:
    path = hostile.zip_directory_bomb(tmp_path, 5000)
    assert "its zip directory is" in refusal(path) and "5003 entries" in refusal(path)
    read_package(hostile.zip_directory_bomb(tmp_path / "few", 10))  # junk conda ignores


def test_sdists_and_project_archives_bound_their_tar_headers_too(tmp_path: Path) -> None:
    sdist = hostile.sdist_header_bomb(tmp_path, GiB)
    with pytest.raises(InvalidPackageError, match=f"PAX tar header declaring {GiB} bytes"):
        read_python_distribution(sdist)
    project = hostile.project_header_bomb(tmp_path, GiB)
    with pytest.raises(InvalidPackageError, match=f"PAX tar header declaring {GiB} bytes"):
        project_archive.read_facts(project.read_bytes(), project.name)


def test_zstd_window_sizes_are_read_from_the_frame_header() -> None:
    assert zstd_window_size(b"\x28\xb5\x2f\xfd\x00\x58") == 2**21  # exponent 11
    assert zstd_window_size(b"\x28\xb5\x2f\xfd\x00\x5c") == 2**21 + 4 * 2**18  # mantissa 4
    assert zstd_window_size(b"\x28\xb5\x2f\xfd\x20\x10") == 16  # single segment, 1-byte size
    assert zstd_window_size(b"PK\x03\x04\x00\x00") is None


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "field", "value"), hostile.BAD_FIELDS)
def test_index_fields_of_the_wrong_type_are_refused_naming_the_field(
    tmp_path: Path, fmt: str, name: str, field: str, value: object
) -> None:
    path = hostile.with_index(tmp_path, fmt, name, **{field: value})
    message = refusal(path)
    assert message.startswith(f"{path.name}: info/index.json: '{field}' ")
    assert ("is missing" if value is None else "must be") in message


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(("name", "text", "words"), hostile.BAD_TEXTS)
def test_index_json_that_is_not_plain_json_is_refused(
    tmp_path: Path, fmt: str, name: str, text: Callable[[str], str], words: str
) -> None:
    path = hostile.with_index_text(tmp_path, fmt, text(name), name)
    message = refusal(path)
    assert message.startswith(f"{path.name}: info/index.json") and words in message


@pytest.mark.parametrize(
    ("about", "field"),
    [({"summary": ["a"]}, "summary"), ({"home": 5}, "home"), ({"keywords": "a b"}, "keywords")],
)
def test_about_json_fields_that_reach_channeldata_are_checked(
    tmp_path: Path, about: dict, field: str
) -> None:
    path = create_package(tmp_path, index=make_index("about"), about=about)
    assert f"info/about.json: '{field}' must be" in refusal(path)


def test_sane_packages_and_their_metadata_still_pass(tmp_path: Path) -> None:
    path = make_package(
        tmp_path, "fine", "1.2.3", "py_0", depends=["python >=3.8"], track_features="a b"
    )
    contents = read_package(path)
    assert contents.index["build_number"] == 0 and contents.index["track_features"] == "a b"
    assert index_json.problem(contents.repodata_record()) is None


def test_problem_explains_a_stored_record_that_cannot_be_served() -> None:
    good = make_index("x")
    assert index_json.problem(good) is None
    assert "'depends' must be a list of strings" in str(index_json.problem({**good, "depends": 1}))
    assert "NaN" in str(index_json.problem({**good, "extra": float("nan")}))
    deep: list = []
    for _ in range(40):
        deep = [deep]
    assert "nested" in str(index_json.problem({**good, "extra": deep}))
    assert index_json.loads(json.dumps(good), "x") == good
