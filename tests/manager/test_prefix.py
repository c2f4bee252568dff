"""ophis.manager.prefix on conda's and rattler's real conda-meta directories."""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import zstandard

from ophis.manager.prefix import CorruptedEnvironmentError, PrefixData, read_prefix_record


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


@pytest.mark.parametrize(
    ("case", "problem"),
    [("json", "Expecting property name"), ("unicode", "can't decode byte 0x8b")],
)
def test_corrupt_record_is_skipped_with_a_warning_naming_the_file(
    testdata, tmp_path, case, problem
):
    prefix = testdata / "conda" / "corrupt" / case
    record_file = prefix / "conda-meta" / "corrupt-1.2.3-hashhash.json"
    data = PrefixData(prefix)
    assert data.records() == {}
    assert len(data.warnings) == 1
    assert data.warnings[0].startswith(f"Ignoring corrupt prefix record at: {record_file} (")
    assert problem in data.warnings[0]

    # the good records beside it are still read
    meta = tmp_path / "conda-meta"
    shutil.copytree(prefix / "conda-meta", meta)
    good = testdata / "conda" / "corrupt" / "dot_underscore" / "conda-meta" / "valid-1.0-0.json"
    shutil.copy(good, meta)
    mixed = PrefixData(tmp_path)
    assert list(mixed.records()) == ["valid"]
    assert len(mixed.warnings) == 1 and "corrupt-1.2.3-hashhash.json" in mixed.warnings[0]


@pytest.mark.parametrize("case", ["json", "unicode"])
def test_reading_one_corrupt_record_names_the_file(testdata, case):
    prefix = testdata / "conda" / "corrupt" / case
    with pytest.raises(CorruptedEnvironmentError) as caught:
        read_prefix_record(prefix / "conda-meta" / "corrupt-1.2.3-hashhash.json")
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
    data = PrefixData(prefix)
    records = data.records()
    assert "numpy" in records and str(records["numpy"].version) == "1.26.4"
    assert records["numpy"].channel.startswith("https://conda.anaconda.org/conda-forge")
    # the archive holds two records for tk, xz and libsqlite (win-64 and osx-arm64 builds)
    assert sorted(w.split("'")[1] for w in data.warnings) == ["libsqlite", "tk", "xz"]
    assert str(records["tk"].version) == "8.6.13"
    assert "tk-8.6.12-h8ffe710_0.json" in next(w for w in data.warnings if "'tk'" in w)


def _record_files(prefix: Path) -> list[Path]:
    return sorted(p for p in (prefix / "conda-meta").glob("*.json") if not p.name.startswith("."))


def _assert_matches_json(record, path: Path) -> None:
    document = json.loads(path.read_text())
    assert (record.name.source, str(record.version), str(record.build)) == (
        document["name"],
        document["version"],
        document["build"],
    ), path
    paths = document.get("files") or [p["_path"] for p in document["paths_data"]["paths"]]
    assert [str(p) for p in record.files] == paths, path
    if "url" in document:
        assert str(record.url) == document["url"], path
    if "md5" in document:
        assert bytes(record.md5).hex() == document["md5"], path


def test_every_record_of_both_archives_reads_as_its_json(testdata, tmp_path, env_metadata):
    modern = _untar_zst(testdata / "rattler" / "conda-meta.tar.zst", tmp_path)
    prefixes = [modern, *sorted(p for p in env_metadata.iterdir() if (p / "conda-meta").is_dir())]
    checked = 0
    for prefix in prefixes:
        data = PrefixData(prefix)
        records = data.records()
        used = {data.record_file(r) for r in records.values()}
        for path in _record_files(prefix):
            if path in used:
                _assert_matches_json(records[json.loads(path.read_text())["name"].lower()], path)
                checked += 1
    assert checked == 168  # 171 record files, less the 3 duplicate names
    python = PrefixData(env_metadata / "envpy37win").get("python")
    assert python is not None and str(python.version).startswith("3.7")


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
