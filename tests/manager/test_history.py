"""conda-meta/history read and written as conda does."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import rattler
import zstandard

from ophis.manager.history import (
    CondaRevisionError,
    HistoryNotFoundError,
    dist_quad,
    dist_str,
    parse_history,
    pretty_lines,
    read_history,
    record_spec,
    requested_specs,
    revision_event,
    revision_log,
    state_at,
    write_revision,
)


@pytest.fixture(scope="module")
def envs(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("envs")
    archive = testdata / "conda" / "env_metadata.tar.zst"
    with (
        archive.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as reader,
        tarfile.open(fileobj=reader, mode="r|") as tar,
    ):
        tar.extractall(out, filter="data")
    return out / "env_metadata"


def test_reads_conda_25_history(envs):
    (revision,) = read_history(envs / "envpy313tosx_whl")
    assert revision.number == 0
    assert revision.timestamp == "2025-03-14 13:51:04"
    assert revision.cmd.endswith("--solver classic")
    assert revision.conda_version == "25.1.2"
    assert "conda-forge/osx-arm64::python-3.13.2-hfd29fff_1_cp313t" in revision.link
    assert revision.unlink == []
    assert revision.update_specs == ["python_abi[build=*_cp313t]", "python=3.13", "pip"]


def test_requested_specs_of_real_envs(envs):
    assert requested_specs(envs / "py27-osx-no-binary") == {
        "python": "python=2",
        "lxml": "lxml",
        "pip": "pip=8",
        "nomkl": "nomkl",
        "h5py": "h5py",
        "numpy": "numpy",
    }
    state = state_at(envs / "envpy27osx", 0)
    assert len(state) == 16 and "defaults::python-2.7.15-h138c1fe_0" in state


HAND_WRITTEN = """\
==> 2024-01-02 03:04:05 <==
# cmd: conda create -n x python=3.11 numpy
# conda version: 24.1.0
+conda-forge/linux-64::numpy-1.26.0-py311_0
+conda-forge/linux-64::python-3.11.0-h0
# update specs: ['python=3.11', 'numpy']
==> 2024-01-03 03:04:05 <==
# cmd: conda install scipy 'numpy>=1.26'
# conda version: 24.1.0
-conda-forge/linux-64::numpy-1.26.0-py311_0
+conda-forge/linux-64::numpy-1.26.4-py311_0
+conda-forge/linux-64::scipy-1.11.0-py311_0
# update specs: ['scipy', 'numpy>=1.26']
==> 2024-01-04 03:04:05 <==
# cmd: conda remove scipy
# conda version: 24.1.0
-conda-forge/linux-64::scipy-1.11.0-py311_0
# remove specs: ['scipy']
# neutered specs: ['python 3.11.*']
==> 2024-01-05 03:04:05 <==
+not-a-command-revision::zlib-1-0
# update specs: ['zlib']
==> 2013-01-01 00:00:00 <==
# cmd: conda install old
# install specs: notebook>=6,jupyter >=1.0.0,<2.0
"""


def test_requested_specs_map_semantics(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    (tmp_path / "conda-meta" / "history").write_text(HAND_WRITTEN)
    installed = ["python", "numpy", "scipy", "zlib", "jupyter", "notebook"]
    assert requested_specs(tmp_path, installed=installed) == {
        "python": "python 3.11.*",  # neutered overrides
        "numpy": "numpy>=1.26",  # later update overrides
        "notebook": "notebook>=6",  # conda < 4.5 comma list ...
        "jupyter": "jupyter >=1.0.0,<2.0",  # ... where a bare constraint continues a spec
    }
    # conda drops names that are no longer installed
    assert requested_specs(tmp_path, installed=["numpy"]) == {"numpy": "numpy>=1.26"}


def test_states_and_revisions(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    (tmp_path / "conda-meta" / "history").write_text(HAND_WRITTEN)
    assert state_at(tmp_path, 1) == {
        "conda-forge/linux-64::numpy-1.26.4-py311_0",
        "conda-forge/linux-64::python-3.11.0-h0",
        "conda-forge/linux-64::scipy-1.11.0-py311_0",
    }
    assert "conda-forge/linux-64::scipy-1.11.0-py311_0" not in state_at(tmp_path, 2)
    with pytest.raises(CondaRevisionError, match="no such revision: 9"):
        state_at(tmp_path, 9)


def _record(channel: str, subdir: str = "linux-64") -> rattler.RepoDataRecord:
    package = rattler.PackageRecord(
        name=rattler.PackageName("numpy"),
        version=rattler.VersionWithSource("1.26.4"),
        build=rattler.BuildString("py311_0"),
        build_number=0,
        subdir=subdir,
    )
    url = f"{channel.rstrip('/')}/{subdir}/numpy-1.26.4-py311_0.conda"
    return rattler.RepoDataRecord(package, "numpy-1.26.4-py311_0.conda", url, channel)


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ("https://conda.anaconda.org/conda-forge/", "conda-forge/linux-64::numpy-1.26.4-py311_0"),
        ("https://repo.anaconda.com/pkgs/main", "defaults/linux-64::numpy-1.26.4-py311_0"),
        ("file:///srv/chan/", "file:///srv/chan/linux-64::numpy-1.26.4-py311_0"),
    ],
)
def test_dist_str(channel, expected):
    assert dist_str(_record(channel)) == expected


def test_write_revision_round_trips(tmp_path):
    (tmp_path / "conda-meta").mkdir()
    (tmp_path / "conda-meta" / "history").write_text(HAND_WRITTEN[:200].rsplit("\n", 1)[0])
    written = write_revision(
        tmp_path,
        cmd=["ophis", "install", "numpy"],
        link=[_record("https://conda.anaconda.org/conda-forge")],
        unlink=["conda-forge/linux-64::numpy-1.26.0-py311_0"],
        update_specs=["numpy"],
        remove_specs=["scipy"],
        timestamp=0,
    )
    text = (tmp_path / "conda-meta" / "history").read_text()
    block = text[text.index("==> 1970") :] if "==> 1970" in text else text.split("\n==> ")[-1]
    lines = block.splitlines()
    assert lines[1:] == [
        "# cmd: ophis install numpy",
        "# conda version: 26.7.1",
        "# ophis version: 0.1.0",
        "-conda-forge/linux-64::numpy-1.26.0-py311_0",
        "+conda-forge/linux-64::numpy-1.26.4-py311_0",
        "# remove specs: ['scipy']",
        "# update specs: ['numpy']",
    ]
    revisions = read_history(tmp_path)
    assert written.number == revisions[-1].number == len(revisions) - 1
    assert revisions[-1].link == ["conda-forge/linux-64::numpy-1.26.4-py311_0"]
    assert [p.name for p in (tmp_path / "conda-meta").iterdir()] == ["history"]


def test_parse_ignores_lines_before_first_header():
    assert parse_history("+stray\n==> 2020-01-01 00:00:00 <==\n+a::b-1-0\n")[0].link == ["a::b-1-0"]


REVISIONS = """\
==> 2024-01-02 03:04:05 <==
# cmd: conda create -n x
+defaults::python-2.7.15-h0
+conda-forge/linux-64::openssl-9.0-h0
+conda-forge/noarch::tzdata-2024a-h0
==> 2024-01-03 03:04:05 <==
# cmd: conda update --all
-conda-forge/linux-64::openssl-9.0-h0
+conda-forge/linux-64::openssl-10.0-h0
-defaults::python-2.7.15-h0
+defaults::python-2.7.14-h0
-conda-forge/noarch::tzdata-2024a-h0
+zlib-1.2-0
==> 2024-01-04 03:04:05 <==
python-2.7.14-h0
openssl-10.0-h0
==> 2024-01-05 03:04:05 <==
# cmd: conda install nothing
"""


def test_pretty_lines_are_what_conda_list_revisions_prints():
    first, second, listed, empty = parse_history(REVISIONS)
    # conda's pretty_diff: version only; the channel in brackets unless it is defaults
    assert pretty_lines(first) == [
        "+openssl-9.0 (conda-forge)",
        "+python-2.7.15",
        "+tzdata-2024a (conda-forge)",
    ]
    assert pretty_lines(second) == [
        " openssl  {9.0 (conda-forge) -> 10.0 (conda-forge)}",
        " python  {2.7.15 -> 2.7.14}",
        "-tzdata-2024a (conda-forge)",
        "+zlib-1.2 (<unknown>)",
    ]
    assert pretty_lines(listed) == ["openssl-10.0-h0", "python-2.7.14-h0"]
    assert pretty_lines(empty) == []


def test_revision_event_is_conda_object_log():
    first, second, listed, empty = parse_history(REVISIONS)
    assert revision_event(first) == {
        "date": "2024-01-02 03:04:05",
        "rev": 0,
        "install": [
            "openssl-9.0-h0-conda-forge",
            "python-2.7.15-h0-defaults",
            "tzdata-2024a-h0-conda-forge",
        ],
        "remove": [],
        "upgrade": [],
        "downgrade": [],
    }
    event = revision_event(second)
    # 10.0 is newer than 9.0 (conda compares the strings and would call this a downgrade)
    assert event["upgrade"] == [
        {"old": "openssl-9.0-h0-conda-forge", "new": "openssl-10.0-h0-conda-forge"}
    ]
    assert event["downgrade"] == [
        {"old": "python-2.7.15-h0-defaults", "new": "python-2.7.14-h0-defaults"}
    ]
    assert event["remove"] == ["tzdata-2024a-h0-conda-forge"]
    assert event["install"] == ["zlib-1.2-0-<unknown>"]
    assert revision_event(listed)["install"] == ["openssl-10.0-h0", "python-2.7.14-h0"]
    assert revision_event(empty)["rev"] == 3


@pytest.mark.parametrize(
    ("dist", "quad"),
    [
        (
            "conda-forge/linux-64::numpy-1.26.4-py311_0",
            ("numpy", "1.26.4", "py311_0", "conda-forge"),
        ),
        ("file:///srv/ch/noarch::a-b-1.0-0.tar.bz2", ("a-b", "1.0", "0", "file:///srv/ch")),
        ("pkgs/main::six-1.0-0", ("six", "1.0", "0", "pkgs/main")),  # main is not a subdir
        ("six-1.0-0", ("six", "1.0", "0", "<unknown>")),
    ],
)
def test_dist_quad(dist, quad):
    assert dist_quad(dist) == quad


def test_revision_log_of_a_real_env_and_of_none(envs, tmp_path):
    (revision,) = revision_log(envs / "envpy27osx")
    assert pretty_lines(revision)[:2] == ["+ca-certificates-2018.03.07", "+certifi-2018.8.13"]
    with pytest.raises(HistoryNotFoundError) as caught:
        revision_log(tmp_path)
    assert caught.value.exception_name == "PathNotFoundError"
    assert str(tmp_path / "conda-meta" / "history") in caught.value.message


def test_record_spec_is_the_spec_conda_writes_for_explicit_installs():
    spec = record_spec(_record("https://conda.anaconda.org/conda-forge/"))
    assert spec == "conda-forge/linux-64::numpy==1.26.4=py311_0"


def test_tokens_in_the_command_line_are_not_written(tmp_path: Path) -> None:
    token = "oph-" + "Z9" * 20
    write_revision(
        tmp_path,
        cmd=["ophis", "create", "-c", f"http://127.0.0.1:8080/conda/t/{token}/alice", "x"],
        link=["alice/noarch::x-1.0-0"],
        unlink=[],
        update_specs=["x"],
    )
    written = (tmp_path / "conda-meta" / "history").read_text()
    assert token not in written and "/conda/t/<TOKEN>/alice" in written
