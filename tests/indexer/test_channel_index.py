"""``ophis index`` as a channel maintainer uses it: real packages in, conda's files out."""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest
import zstandard

from ophis.core.errors import ChannelIndexError
from ophis.core.shards import SHARDS_INDEX, read_shard, read_shards_index
from ophis.indexer.channel_index import IndexOptions, index_channel
from ophis.testing.packages import make_package


def copy_channel(source: Path, destination: Path) -> Path:
    """A writable copy of read-only test data, without the expected outputs."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("*.json*", "*.html"))
    for path in [destination, *destination.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return destination


def load(path: Path) -> dict:
    return json.loads(path.read_bytes())


def all_records(repodata: dict) -> dict:
    return {**repodata["packages"], **repodata["packages.conda"]}


@pytest.fixture
def index_data(testdata: Path, tmp_path: Path) -> tuple[Path, Path]:
    expected = testdata / "conda-index" / "index_data" / "packages"
    return expected, copy_channel(expected, tmp_path / "packages")


def test_repodata_equals_conda_index_output(index_data: tuple[Path, Path]) -> None:
    expected, channel = index_data
    index_channel(channel)
    for subdir in ("noarch", "osx-64"):
        for name in ("repodata.json", "repodata_from_packages.json", "current_repodata.json"):
            want = load(expected / subdir / name)
            got = load(channel / subdir / name)
            assert got["packages"] == want["packages"], f"{subdir}/{name}"
            assert got["packages.conda"] == want["packages.conda"], f"{subdir}/{name}"
            assert got["info"]["subdir"] == subdir


def test_channeldata_equals_conda_index_output(index_data: tuple[Path, Path]) -> None:
    expected, channel = index_data
    index_channel(channel)
    assert load(channel / "channeldata.json") == load(expected / "channeldata.json")


def test_run_exports_json_lists_each_package(index_data: tuple[Path, Path]) -> None:
    _, channel = index_data
    index_channel(channel)
    run_exports = load(channel / "noarch" / "run_exports.json")
    entry = run_exports["packages"]["run_exports_versions-2.0-h39de5ba_0.tar.bz2"]
    assert entry["run_exports"] == {"weak": ["run_exports_version 2.0"]}


def test_compressed_twins_hold_the_same_document(index_data: tuple[Path, Path]) -> None:
    import bz2

    _, channel = index_data
    index_channel(channel)
    plain = (channel / "osx-64" / "repodata.json").read_bytes()
    zst = (channel / "osx-64" / "repodata.json.zst").read_bytes()
    assert zstandard.ZstdDecompressor().stream_reader(zst).read() == plain
    assert bz2.decompress((channel / "osx-64" / "repodata.json.bz2").read_bytes()) == plain


def test_hotfix_channel_matches_conda_index(testdata: Path, tmp_path: Path) -> None:
    expected = testdata / "conda-index" / "index_hotfix_pkgs"
    channel = copy_channel(expected, tmp_path / "hotfix")
    index_channel(channel)
    want = load(expected / "osx-64" / "repodata.json")
    got = load(channel / "osx-64" / "repodata.json")
    assert got["packages"] == want["packages"]
    # The expected output predates the .conda twins in that folder: they carry the same
    # metadata with their own hashes.
    for filename, record in got["packages.conda"].items():
        twin = want["packages"][filename.replace(".conda", ".tar.bz2")]
        strip = {"md5", "sha256", "size"}
        assert {k: v for k, v in record.items() if k not in strip} == {
            k: v for k, v in twin.items() if k not in strip
        }


def test_patch_instructions_json_is_applied(testdata: Path, tmp_path: Path) -> None:
    channel = copy_channel(testdata / "conda-index" / "index_hotfix_pkgs", tmp_path / "hotfix")
    instructions = {
        "patch_instructions_version": 1,
        "packages": {
            "hotfix_depends_test-1.0-dummy_0.tar.bz2": {"depends": ["zlib >=1.2.13"]},
            "track_features_test-1.0-0.tar.bz2": {"track_features": None},
        },
        "revoke": ["revoke_test-1.0-0.tar.bz2"],
        "remove": ["remove_test-1.0-0.tar.bz2"],
    }
    (channel / "osx-64" / "patch_instructions.json").write_text(json.dumps(instructions))
    index_channel(channel)

    patched = load(channel / "osx-64" / "repodata.json")
    raw = load(channel / "osx-64" / "repodata_from_packages.json")
    for ext, key in ((".tar.bz2", "packages"), (".conda", "packages.conda")):
        records = patched[key]
        assert records[f"hotfix_depends_test-1.0-dummy_0{ext}"]["depends"] == ["zlib >=1.2.13"]
        assert "track_features" not in records[f"track_features_test-1.0-0{ext}"]
        assert records[f"revoke_test-1.0-0{ext}"]["revoked"] is True
        assert "package_has_been_revoked" in records[f"revoke_test-1.0-0{ext}"]["depends"]
        assert f"remove_test-1.0-0{ext}" not in records
        assert f"remove_test-1.0-0{ext}" in raw[key]
        assert raw[key][f"hotfix_depends_test-1.0-dummy_0{ext}"]["depends"] == ["zlib"]
    assert patched["removed"] == ["remove_test-1.0-0.conda", "remove_test-1.0-0.tar.bz2"]


def test_repodata_patches_package_is_found_and_applied(testdata: Path, tmp_path: Path) -> None:
    """conda-forge's real patches package removes sendgrid-5.3.0-py_0 from noarch."""
    channel = tmp_path / "conda-forge"
    (channel / "noarch").mkdir(parents=True)
    shutil.copy(
        testdata / "conda-index" / "archives" / "conda-forge-repodata-patches-20180828-0.tar.bz2",
        channel / "noarch",
    )
    make_package(channel / "noarch", "sendgrid", "5.3.0", "py_0")
    make_package(channel / "noarch", "sendgrid", "5.4.0", "py_0")

    summary = index_channel(channel)

    assert summary.patches == "noarch/conda-forge-repodata-patches-20180828-0.tar.bz2"
    patched = load(channel / "noarch" / "repodata.json")
    assert "sendgrid-5.3.0-py_0.tar.bz2" not in patched["packages"]
    assert "sendgrid-5.4.0-py_0.tar.bz2" in patched["packages"]
    assert patched["removed"] == ["sendgrid-5.3.0-py_0.tar.bz2"]
    raw = load(channel / "noarch" / "repodata_from_packages.json")
    assert "sendgrid-5.3.0-py_0.tar.bz2" in raw["packages"]


def test_unknown_patch_package_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "noarch").mkdir()
    with pytest.raises(ChannelIndexError, match="No repodata-patches package 'nope'"):
        index_channel(tmp_path, IndexOptions(patch_package="nope"))


def test_corrupt_packages_are_reported_and_the_rest_indexed(testdata: Path, tmp_path: Path) -> None:
    channel = copy_channel(testdata / "conda-index" / "index_data" / "corrupt", tmp_path / "c")
    good = make_package(channel / "noarch", "good", "1.0", "0")

    summary = index_channel(channel)

    rejected = {r.filename: r.error for r in summary.rejected}
    assert set(rejected) == {"bad_package.tar.bz2", "another_bad_package.conda"}
    assert all("bad_package" in error for error in rejected.values())
    assert list(load(channel / "noarch" / "repodata.json")["packages"]) == [good.name]


def test_package_in_the_wrong_subdir_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "noarch").mkdir()
    make_package(tmp_path / "linux-64", "misplaced", "1.0", "0", subdir="osx-64")
    summary = index_channel(tmp_path)
    assert [r.filename for r in summary.rejected] == ["misplaced-1.0-0.tar.bz2"]
    assert "osx-64" in summary.rejected[0].error
    assert load(tmp_path / "linux-64" / "repodata.json")["packages"] == {}


def test_reindex_reads_only_new_and_changed_files(tmp_path: Path) -> None:
    for i in range(20):
        make_package(tmp_path / "noarch", f"pkg{i}", "1.0", "0")
    make_package(tmp_path / "linux-64", "native", "1.0", "0", subdir="linux-64")
    first = index_channel(tmp_path)
    assert first.to_json()["read"] == 21

    make_package(tmp_path / "noarch", "added", "1.0", "0")
    (tmp_path / "noarch" / "pkg3-1.0-0.tar.bz2").unlink()
    second = index_channel(tmp_path)

    noarch = next(s for s in second.subdirs if s.subdir == "noarch")
    linux = next(s for s in second.subdirs if s.subdir == "linux-64")
    assert (noarch.read, noarch.reused, noarch.removed, noarch.written) == (1, 19, 1, True)
    assert (linux.read, linux.written) == (0, False)
    names = {r["name"] for r in load(tmp_path / "noarch" / "repodata.json")["packages"].values()}
    assert "added" in names and "pkg3" not in names
    assert "added" in load(tmp_path / "channeldata.json")["packages"]

    third = index_channel(tmp_path)
    assert third.to_json()["read"] == 0
    assert not any(s.written for s in third.subdirs)


def test_a_replaced_file_is_read_again(tmp_path: Path) -> None:
    path = make_package(tmp_path / "noarch", "pkg", "1.0", "0", depends=["a"])
    index_channel(tmp_path)
    path.unlink()
    make_package(tmp_path / "noarch", "pkg", "1.0", "0", depends=["a", "b"])
    os.utime(path, ns=(1, 1))  # a different mtime, as a copy from elsewhere would have
    index_channel(tmp_path)
    record = load(tmp_path / "noarch" / "repodata.json")["packages"][path.name]
    assert record["depends"] == ["a", "b"]


def test_readers_never_see_a_half_written_repodata(tmp_path: Path) -> None:
    for i in range(200):
        make_package(tmp_path / "noarch", f"pkg{i}", "1.0", "0", depends=[f"dep{i}"])
    index_channel(tmp_path)
    stop = threading.Event()
    failures: list[str] = []

    def read_repeatedly() -> None:
        while not stop.is_set():
            try:
                json.loads((tmp_path / "noarch" / "repodata.json").read_bytes())
            except ValueError as error:
                failures.append(str(error))

    reader = threading.Thread(target=read_repeatedly)
    reader.start()
    try:
        for _ in range(5):
            index_channel(tmp_path, IndexOptions(force=True, workers=1))
    finally:
        stop.set()
        reader.join()
    assert failures == []
    leftovers = [p.name for p in (tmp_path / "noarch").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_shards_hold_the_same_records_as_repodata(testdata: Path, tmp_path: Path) -> None:
    channel = copy_channel(testdata / "conda" / "test-recipes", tmp_path / "test-recipes")
    index_channel(channel)
    for subdir in ("noarch", "linux-fake"):
        path = channel / subdir
        repodata = load(path / "repodata.json")
        index = read_shards_index((path / SHARDS_INDEX).read_bytes())
        assert index["info"]["subdir"] == subdir
        rebuilt: dict[str, dict] = {"packages": {}, "packages.conda": {}}
        for name, digest in index["shards"].items():
            shard = read_shard((path / "shards" / f"{digest}.msgpack.zst").read_bytes())
            for key in rebuilt:
                assert all(r["name"] == name for r in shard[key].values())
                rebuilt[key].update(shard[key])
        assert rebuilt["packages"] == repodata["packages"]
        assert rebuilt["packages.conda"] == repodata["packages.conda"]


def test_current_repodata_keeps_newest_and_what_it_needs(testdata: Path, tmp_path: Path) -> None:
    channel = copy_channel(testdata / "conda" / "test-recipes", tmp_path / "test-recipes")
    index_channel(channel)
    current = all_records(load(channel / "noarch" / "current_repodata.json"))
    assert "dependent-2.0-0.tar.bz2" in current
    assert "dependent-1.0-0.tar.bz2" not in current
    # buildstring-1.0-versioned_1 needs "versioned 1.*", so versioned 1.0 is kept too
    assert "buildstring-1.0-versioned_1.conda" in current
    assert {"versioned-1.0-0.conda", "versioned-2.0-0.conda"} <= set(current)


def test_rattler_solves_and_installs_from_an_indexed_channel(
    testdata: Path, tmp_path: Path
) -> None:
    import asyncio

    import rattler

    channel = copy_channel(testdata / "conda" / "test-recipes", tmp_path / "test-recipes")
    index_channel(channel)

    async def solve_and_install() -> list[str]:
        records = await rattler.solve(
            [rattler.Channel(channel.as_uri())],
            ["another_dependent", "dependent 1.*"],
            platforms=["noarch"],
            timestamp_policy="allow-missing",
        )
        await rattler.install(records, tmp_path / "env", cache_dir=tmp_path / "pkgs")
        return sorted(f"{r.name.normalized}-{r.version}" for r in records)

    installed = asyncio.run(solve_and_install())
    assert installed == ["another_dependent-2.0", "dependency-1.0", "dependent-1.0"]
    meta = sorted(p.name for p in (tmp_path / "env" / "conda-meta").glob("*.json"))
    assert meta == [
        "another_dependent-2.0-0.json",
        "dependency-1.0-0.json",
        "dependent-1.0-0.json",
    ]


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ChannelIndexError, match="is not a directory"):
        index_channel(tmp_path / "nowhere")


def test_rattler_reads_the_shards_over_http(testdata: Path, tmp_path: Path) -> None:
    """With every repodata.json removed, py-rattler can only solve through the shards."""
    import asyncio
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    import rattler

    channel = copy_channel(testdata / "conda" / "test-recipes", tmp_path / "test-recipes")
    index_channel(channel)
    for path in channel.glob("*/repodata.json*"):
        path.unlink()

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(channel))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        gateway = rattler.Gateway(cache_dir=tmp_path / "cache")
        records = asyncio.run(
            rattler.solve(
                [rattler.Channel(url)],
                ["dependent 2.*"],
                gateway=gateway,
                platforms=["noarch"],
                timestamp_policy="allow-missing",
            )
        )
    finally:
        server.shutdown()
    assert sorted(str(r.file_name) for r in records) == [
        "dependency-2.0-0.tar.bz2",
        "dependent-2.0-0.tar.bz2",
    ]
