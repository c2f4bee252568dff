"""@EXPLICIT files: conda's, rattler's and conda-lock's read; bad lines are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.core.errors import CondaValueError
from ophis.manager.explicit import (
    ExplicitPackage,
    dumps_explicit,
    parse_explicit,
    read_explicit_file,
)


def explicit_files(testdata: Path) -> list[Path]:
    return sorted(
        [
            *(testdata / "rattler/explicit-envs").glob("*.txt"),
            *(testdata / "rattler/python").glob("explicit-env-*.txt"),
            *(testdata / "conda-libmamba-solver").glob("*.lock"),
        ]
    )


def test_every_explicit_and_lock_file_in_the_test_data_reads(testdata: Path) -> None:
    files = explicit_files(testdata)
    assert len(files) == 16
    for path in files:
        parsed = read_explicit_file(path)
        assert parsed.packages, path.name
        assert parsed.platform and parsed.platform in path.name.replace("_", "-"), path.name
        for package in parsed.packages:
            assert package.url.startswith("https://") and package.subdir in (
                parsed.platform,
                "noarch",
            )
    xtensor = read_explicit_file(testdata / "rattler/explicit-envs/xtensor_linux-64.txt")
    first = xtensor.packages[0]
    assert first.filename == "_libgcc_mutex-0.1-conda_forge.tar.bz2"
    assert first.md5 == "d7c89558ba9fa0495403155b64376d81"
    assert first.channel_url == "https://conda.anaconda.org/conda-forge"


def test_sha256_fragments_and_round_trip() -> None:
    digest = "a" * 64
    parsed = parse_explicit(f"@EXPLICIT\nhttps://h/c/noarch/x-1-0.conda#sha256:{digest}\n")
    assert parsed.packages == (ExplicitPackage("https://h/c/noarch/x-1-0.conda", sha256=digest),)
    packages = [ExplicitPackage("https://h/c/linux-64/y-2-1.tar.bz2", md5="b" * 32)]
    again = parse_explicit(dumps_explicit(packages, "linux-64", checksums=True))
    assert again.packages == tuple(packages) and again.platform == "linux-64"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("numpy\n@EXPLICIT\n", 1, "before the @EXPLICIT line"),
        ("@EXPLICIT\nhttps://h/c/noarch/x-1-0.conda\nnot a url\n", 3, "not a package URL"),
        ("@EXPLICIT\nhttps://h/c/noarch/readme.txt\n", 2, "does not end in a .conda"),
        ("@EXPLICIT\nhttps://h/c/noarch/x-1-0.conda#xyz\n", 2, "neither an md5"),
        ("# just a comment\n", 1, "has no @EXPLICIT line"),
    ],
)
def test_a_malformed_explicit_file_names_the_line(text: str, line: int, problem: str) -> None:
    with pytest.raises(CondaValueError) as caught:
        parse_explicit(text, "spec.txt")
    assert f"spec.txt, line {line}:" in caught.value.message and problem in caught.value.message
