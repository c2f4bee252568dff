"""ophis.manager.prefix on conda's and rattler's real conda-meta directories."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest
import zstandard

from ophis.manager.prefix import CorruptedEnvironmentError, PrefixData


def _untar_zst(archive: Path, dest: Path) -> Path:
    with (
        archive.open("rb") as raw,
        zstandard.ZstdDecompressor().stream_reader(raw) as reader,
        tarfile.open(fileobj=reader, mode="r|") as tar,
    ):
        tar.extractall(dest, filter="data")
    return dest


@pytest.fixture(scope="module")
def env_metadata(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("env_metadata")
    return _untar_zst(testdata / "conda" / "env_metadata.tar.zst", out) / "env_metadata"


@pytest.mark.parametrize("case", ["json", "unicode"])
def test_corrupt_record_names_the_file(testdata, case):
    prefix = testdata / "conda" / "corrupt" / case
    with pytest.raises(CorruptedEnvironmentError) as caught:
        PrefixData(prefix).records()
    assert "corrupt-1.2.3-hashhash.json" in str(caught.value)
    assert str(prefix) in str(caught.value)
    assert caught.value.exception_name == "CorruptedEnvironmentError"


def test_dot_underscore_files_are_not_records(testdata):
    """macOS ._ files are skipped, and a record without 'url' is completed as conda reads it."""
    data = PrefixData(testdata / "conda" / "corrupt" / "dot_underscore")
    assert data.is_environment()
    records = data.records()
    assert list(records) == ["valid"]
    assert str(records["valid"].version) == "1.0"
    assert records["valid"].url.endswith("/noarch/valid-1.0-0.tar.bz2")


def test_old_conda_records(env_metadata):
    data = PrefixData(env_metadata / "envpy27osx")
    records = data.records()
    assert len(records) == 16
    python = data.get("python")
    assert python is not None and str(python.version) == "2.7.15"
    assert len(python.files) == 2119
    assert data.get("nothing") is None


def test_rattler_modern_records(testdata, tmp_path):
    prefix = _untar_zst(testdata / "rattler" / "conda-meta.tar.zst", tmp_path)
    records = PrefixData(prefix).records()
    assert "numpy" in records and str(records["numpy"].version) == "1.26.4"
    assert records["numpy"].channel.startswith("https://conda.anaconda.org/conda-forge")


def test_misnamed_record_is_ignored(testdata, tmp_path):
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    shutil.copy(
        testdata / "conda" / "corrupt" / "dot_underscore" / "conda-meta" / "valid-1.0-0.json",
        meta / "other-2-0.json",
    )
    data = PrefixData(tmp_path)
    assert data.records() == {}
    assert "Ignoring malformed prefix record" in data.warnings[0]


def test_missing_prefix(tmp_path):
    data = PrefixData(tmp_path / "nope")
    assert not data.exists() and not data.is_environment()
    assert data.records() == {}
