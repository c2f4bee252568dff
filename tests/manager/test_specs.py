"""conda's match-spec meaning, checked against real records of conda's channel-1 snapshot.

Expectations follow conda's ``MatchSpec`` / ``VersionSpec`` rules (conda/models/match_spec.py
``_parse_spec_str``: ``=1.11`` → ``1.11*``, ``==1.11`` exact, ``=1.11=b`` exact version with
build; version.py: an operator-less version is ``==``, trailing zeros are equal).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rattler
import zstandard

from ophis.core.errors import InvalidMatchSpecError
from ophis.manager.specs import parse_spec, spec_name, to_rattler_spec


@pytest.fixture(scope="module")
def records(testdata: Path) -> dict[str, rattler.PackageRecord]:
    with (testdata / "conda" / "index.json.zst").open("rb") as fh:
        snapshot = json.loads(zstandard.ZstdDecompressor().stream_reader(fh).read())
    made = {}
    for filename, raw in snapshot.items():
        made[filename.removesuffix(".tar.bz2")] = rattler.PackageRecord(
            raw["name"],
            raw["version"],
            rattler.BuildString(raw["build"]),
            raw["build_number"],
            "linux-64",
            depends=raw.get("depends", []),
        )
    return made


# (spec, dist in channel-1, does conda match it?)
TABLE = [
    ("numpy", "numpy-1.7.1-py33_0", True),
    ("numpy", "scipy-0.12.0-np17py27_0", False),
    ("NumPy", "numpy-1.7.1-py33_0", True),
    ("numpy=1.7", "numpy-1.7.1-py33_0", True),
    ("numpy=1.7", "numpy-1.6.2-py27_4", False),
    ("numpy=1.7", "numpy-1.7.0-py27_0", True),
    ("numpy==1.7", "numpy-1.7.1-py33_0", False),
    ("numpy==1.7.1", "numpy-1.7.1-py33_0", True),
    ("numpy 1.7", "numpy-1.7.1-py33_0", False),  # operator-less version is exact
    ("numpy 1.7.1", "numpy-1.7.1-py33_0", True),
    ("numpy 1.7*", "numpy-1.7.1-py33_0", True),
    ("numpy 1.7.*", "numpy-1.7.1-py33_0", True),
    ("numpy=1.7.*", "numpy-1.7.1-py33_0", True),
    ("numpy=1.7.*", "numpy-1.6.2-py27_4", False),
    ("numpy=1.7.1=py33_0", "numpy-1.7.1-py33_0", True),
    ("numpy=1.7.1=py33_0", "numpy-1.7.1-py27_0", False),
    ("numpy=1.7=py33_0", "numpy-1.7.1-py33_0", False),  # with a build the version is exact
    ("numpy 1.7.1 py33_0", "numpy-1.7.1-py33_0", True),
    ("numpy 1.7.1 py27_0", "numpy-1.7.1-py33_0", False),
    ("numpy=1.7.1=py33*", "numpy-1.7.1-py33_0", True),
    ("numpy=*=py33*", "numpy-1.7.1-py33_0", True),
    ("numpy * *py27*", "numpy-1.7.1-py27_0", True),
    ("numpy * *py27*", "numpy-1.7.1-py33_0", False),
    ("numpy[build=*py27*]", "numpy-1.7.1-py27_0", True),
    ("numpy[build=*py27*]", "numpy-1.7.1-py33_0", False),
    ("numpy>=1.7", "numpy-1.7.1-py33_0", True),
    ("numpy>=1.7", "numpy-1.6.2-py27_4", False),
    ("numpy >=1.7", "numpy-1.7.1-py33_0", True),
    ("numpy>=1.6,<1.7", "numpy-1.6.2-py27_4", True),
    ("numpy>=1.6,<1.7", "numpy-1.7.1-py33_0", False),
    ("numpy>=1.8,<2|1.7.1", "numpy-1.7.1-py33_0", True),
    ("numpy>=1.8,<2|1.7.1", "numpy-1.7.0-py27_0", False),
    ("numpy 1.6*|1.7*", "numpy-1.6.2-py27_4", True),
    ("numpy!=1.7.1", "numpy-1.7.1-py33_0", False),
    ("numpy!=1.7.1", "numpy-1.7.0-py27_0", True),
    ("numpy[version='>=1.7']", "numpy-1.7.1-py33_0", True),
    ('numpy[version=">=1.7"]', "numpy-1.6.2-py27_4", False),
    ("numpy[version='1.7.*', build=py33_0]", "numpy-1.7.1-py33_0", True),
    ("numpy[build_number=4]", "numpy-1.6.2-py27_4", True),
    ("numpy[build_number=4]", "numpy-1.7.1-py33_0", False),
    ("system[build_number=0]", "system-5.8-0", True),
    ("system[build_number=0]", "system-5.8-1", False),
    ("python=2", "python-2.7.5-0", True),
    ("python=2", "python-3.3.2-0", False),
    ("python=2.7", "python-2.7.5-0", True),
    ("python 2.7*", "python-2.7.5-0", True),
    ("python=2.7.3", "python-2.7.3-7", True),
    ("python==2.7", "python-2.7.5-0", False),
    ("python=3", "python-3.3.2-0", True),
    ("numpy=", "numpy-1.7.1-py33_0", True),  # conda: 'numpy=' means 'numpy'
    ("pandas=0.11.0=np16py27_1", "pandas-0.11.0-np16py27_1", True),
    ("pandas=0.11=np16py27_1", "pandas-0.11.0-np16py27_1", True),  # 0.11 == 0.11.0
    ("channel-1::numpy", "numpy-1.7.1-py33_0", True),
    ("cudatoolkit>=9", "cudatoolkit-9.0-0", True),
]


@pytest.mark.parametrize(("text", "dist", "expected"), TABLE, ids=[f"{t}~{d}" for t, d, _ in TABLE])
def test_spec_matches_like_conda(records, text, dist, expected):
    parsed = parse_spec(text)
    assert parsed.rattler_spec.matches(records[dist]) is expected


@pytest.mark.parametrize(
    ("text", "name", "channel", "subdir"),
    [
        ("numpy", "numpy", None, None),
        ("conda-forge::numpy>=1", "numpy", "conda-forge", None),
        ("conda-forge/linux-64::numpy", "numpy", "conda-forge", "linux-64"),
        ("owner/label/dev::numpy", "numpy", "owner/label/dev", None),
        ("file:///srv/channel::numpy", "numpy", "file:///srv/channel", None),
        ("numpy[channel=conda-forge]", "numpy", "conda-forge", None),
        ("numpy[subdir=linux-64]", "numpy", None, "linux-64"),
    ],
)
def test_channel_and_subdir_are_kept_apart(text, name, channel, subdir):
    parsed = parse_spec(text)
    assert (parsed.name, parsed.channel, parsed.subdir) == (name, channel, subdir)
    assert parsed.rattler_spec.channel is None
    assert parsed.original == text


def test_to_rattler_spec_keeps_the_channel():
    spec = to_rattler_spec("conda-forge::numpy=1.7")
    assert spec.channel is not None and spec.channel.name == "conda-forge"
    assert str(spec.version) == "1.7.*"
    assert spec_name("NumPy>=1") == "numpy"


@pytest.mark.parametrize(
    ("text", "channel", "subdir"),
    [
        (
            "https://repo.example/pkgs/main/linux-64/numpy-1.7.1-py33_0.tar.bz2",
            "https://repo.example/pkgs/main",
            "linux-64",
        ),
        ("file:///srv/ch/noarch/numpy-1.7.1-py33_0.conda", "file:///srv/ch", "noarch"),
    ],
)
def test_package_file_specs_are_explicit(records, text, channel, subdir):
    parsed = parse_spec(text)
    assert parsed.is_explicit and parsed.url == text
    assert (parsed.name, parsed.channel, parsed.subdir) == ("numpy", channel, subdir)
    assert parsed.rattler_spec.matches(records["numpy-1.7.1-py33_0"])
    assert not parsed.rattler_spec.matches(records["numpy-1.7.1-py27_0"])


def test_relative_package_path_becomes_a_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parsed = parse_spec("./linux-64/zlib-1.2.11-0.tar.bz2")
    assert parsed.url == (tmp_path / "linux-64" / "zlib-1.2.11-0.tar.bz2").as_uri()
    assert parsed.channel == tmp_path.as_uri() and parsed.subdir == "linux-64"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (">=1.7", "no package name"),
        ("numpy==", "version"),
        ("numpy>=", "version"),
        ("numpy[version=]", "bracket"),
        ("numpy[version=>=1", "not a valid package name"),
        ("a:b", "single ':'"),
        ("::numpy", "nothing before"),
        ("https://h/ch/linux-64/notapackage.tar.bz2", "name-version-build"),
    ],
)
def test_bad_specs_name_the_spec_and_the_problem(text, why):
    with pytest.raises(InvalidMatchSpecError) as info:
        parse_spec(text)
    assert f"'{text}'" in info.value.message
    assert why in info.value.message
    assert info.value.remedy
