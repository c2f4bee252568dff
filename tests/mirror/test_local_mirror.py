"""Mirroring into a local channel folder: equal to the filtered upstream, incremental,
verified, resumable."""

from __future__ import annotations

import fcntl
import json
import shutil
from pathlib import Path

import pytest

from ophis.core.shards import SHARDS_INDEX, read_shards_index, shard_filename
from ophis.mirror.destinations import LocalChannelDestination, MirrorError
from ophis.mirror.plan import Filters
from ophis.mirror.sync import MirrorOptions, mirror
from ophis.testing.http import serve_directory
from ophis.testing.mirror import (
    add_package,
    assert_consistent,
    corrupt,
    package_files,
    records,
    reindex,
    repodata,
)


def shard_digest(channel: Path, name: str, subdir: str = "noarch") -> str:
    index = read_shards_index((channel / subdir / SHARDS_INDEX).read_bytes())
    return index["shards"][name]


def run(source: str | Path, dest: Path, **options: object):
    return mirror(str(source), LocalChannelDestination(dest), MirrorOptions(**options))


def test_a_mirror_of_conda_test_recipes_equals_upstream(recipes: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    report = run(recipes.as_uri(), dest)
    assert not report.failures
    for subdir in ("noarch", "linux-fake", "osx-fake", "win-fake"):
        assert records(dest, subdir) == records(recipes, subdir)
        assert package_files(dest, subdir) == package_files(recipes, subdir)
    assert_consistent(dest)
    again = run(recipes.as_uri(), dest)
    assert again.fetched == [] and again.bytes_received == 0


def test_second_run_fetches_only_what_changed_and_deletes_what_upstream_removed(
    upstream: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    with serve_directory(upstream) as server:
        first = run(server.url, dest, subdirs=("noarch", "linux-64"))
        assert len(first.fetched) == 4
        add_package(upstream, "delta", "1.0")
        (upstream / "noarch" / "beta-0.5-0.tar.bz2").unlink()
        reindex(upstream)
        before = len(server.requests)
        second = run(server.url, dest, subdirs=("noarch", "linux-64"))
        requests = dict(server.requests[before:])
    assert [p for p in requests if p.endswith(".tar.bz2")] == ["/noarch/delta-1.0-0.tar.bz2"]
    # upstream offers shards: only the new package's shard is fetched, not its whole repodata
    assert [p for p in requests if "/shards/" in p] == [
        f"/noarch/shards/{shard_filename(shard_digest(upstream, 'delta'))}"
    ]
    assert requests["/linux-64/repodata_shards.msgpack.zst"] == 304
    assert not [p for p in requests if "repodata.json" in p]
    assert second.fetched == [("noarch", "delta-1.0-0.tar.bz2")]
    assert records(dest) == records(upstream)
    assert records(dest, "linux-64") == records(upstream, "linux-64")
    assert "beta-0.5-0.tar.bz2" not in package_files(dest)
    assert_consistent(dest)


def test_keep_removed_keeps_what_upstream_dropped(upstream: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    run(upstream, dest, subdirs=("noarch",))
    (upstream / "noarch" / "beta-0.5-0.tar.bz2").unlink()
    reindex(upstream)
    run(upstream, dest, subdirs=("noarch",), keep_removed=True)
    assert "beta-0.5-0.tar.bz2" in records(dest)
    assert "beta-0.5-0.tar.bz2" in package_files(dest)
    run(upstream, dest, subdirs=("noarch",))
    assert records(dest) == records(upstream)
    assert "beta-0.5-0.tar.bz2" not in package_files(dest)


def test_upstream_hotfixes_reach_the_mirror_without_fetching_again(
    upstream: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    run(upstream, dest, subdirs=("noarch",))
    patch = {
        "patch_instructions_version": 1,
        "packages": {"alpha-1.0-0.tar.bz2": {"depends": ["beta >=0.5"], "license": "MIT"}},
        "remove": ["alpha-2.0-0.tar.bz2"],
    }
    (upstream / "noarch" / "patch_instructions.json").write_text(json.dumps(patch))
    reindex(upstream)
    report = run(upstream, dest, subdirs=("noarch",))
    assert report.fetched == []
    assert report.plans[0].patched == ("alpha-1.0-0.tar.bz2",)
    mirrored = repodata(dest)
    assert mirrored["packages"]["alpha-1.0-0.tar.bz2"]["depends"] == ["beta >=0.5"]
    assert "alpha-2.0-0.tar.bz2" not in mirrored["packages"]
    assert mirrored["removed"] == ["alpha-2.0-0.tar.bz2"]
    assert records(dest) == records(upstream)


def test_filters_select_what_is_mirrored(upstream: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    add_package(upstream, "alpha", "3.0")
    reindex(upstream)
    spec = Filters.parse(include=("alpha >=2",))
    run(upstream, dest, subdirs=("noarch",), filters=spec)
    assert set(records(dest)) == {"alpha-2.0-0.tar.bz2", "alpha-3.0-0.tar.bz2"}
    newest = Filters.parse(exclude=("beta",), newest=1)
    run(upstream, dest, subdirs=("noarch",), filters=newest)
    assert set(records(dest)) == {"alpha-3.0-0.tar.bz2"}
    assert package_files(dest) == {"alpha-3.0-0.tar.bz2"}
    mit = Filters.parse(licenses=("mit",))
    run(upstream, dest, subdirs=("noarch",), filters=mit)
    assert set(records(dest)) == {"beta-0.5-0.tar.bz2"}
    assert_consistent(dest)


def test_dry_run_lists_what_would_be_fetched_and_writes_nothing(
    upstream: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    report = run(upstream, dest, subdirs=("noarch",), dry_run=True)
    listed = report.to_json()["fetch"]
    sizes = {fn: r["size"] for fn, r in records(upstream).items()}
    assert {(f["filename"], f["size"]) for f in listed} == set(sizes.items())
    assert report.to_json()["bytes_to_fetch"] == sum(sizes.values())
    assert not dest.exists()


def test_a_file_that_fails_its_checksum_is_never_published(upstream: Path, tmp_path: Path) -> None:
    corrupt(upstream / "noarch" / "beta-0.5-0.tar.bz2")  # repodata still has the old sha256
    dest = tmp_path / "mirror"
    with serve_directory(upstream) as server:
        report = run(server.url, dest, subdirs=("noarch",))
        attempts = [p for p, _ in server.requests if p.endswith("beta-0.5-0.tar.bz2")]
    assert [(f.filename, "does not match" in f.error) for f in report.failures] == [
        ("beta-0.5-0.tar.bz2", True)
    ]
    assert len(attempts) == 3  # retried, then reported
    assert set(records(dest)) == {"alpha-1.0-0.tar.bz2", "alpha-2.0-0.tar.bz2"}
    assert "beta-0.5-0.tar.bz2" not in package_files(dest)
    assert not list((dest / ".ophis-mirror").rglob("beta-0.5-0.tar.bz2*"))
    assert_consistent(dest)


def test_a_corrupt_file_channel_keeps_the_older_good_copy(upstream: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    run(upstream.as_uri(), dest, subdirs=("noarch",))
    good = records(dest)["alpha-1.0-0.tar.bz2"]
    # upstream replaces the file (new sha256 in its repodata), then the file gets damaged
    add_package(upstream, "alpha", "1.0", size=3_000)
    reindex(upstream)
    corrupt(upstream / "noarch" / "alpha-1.0-0.tar.bz2")
    report = run(upstream.as_uri(), dest, subdirs=("noarch",))
    assert [f.filename for f in report.failures] == ["alpha-1.0-0.tar.bz2"]
    assert records(dest)["alpha-1.0-0.tar.bz2"] == good
    assert_consistent(dest)


def test_a_download_cut_off_midway_resumes_with_a_range_request(
    upstream: Path, tmp_path: Path
) -> None:
    add_package(upstream, "big", "1.0", size=400_000)
    reindex(upstream)
    dest = tmp_path / "mirror"
    with serve_directory(upstream) as server:
        server.drop_after["/noarch/big-1.0-0.tar.bz2"] = 150_000
        report = run(server.url, dest, subdirs=("noarch",))
        ranges = list(server.ranges)
    assert not report.failures
    assert [path for path, _ in ranges] == ["/noarch/big-1.0-0.tar.bz2"]
    start = int(ranges[0][1].removeprefix("bytes=").rstrip("-"))
    assert 0 < start <= 150_000
    assert records(dest) == records(upstream)
    assert_consistent(dest)


def test_a_mirror_folder_is_itself_a_channel_to_mirror(upstream: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    run(upstream, first)
    shutil.rmtree(first / ".ophis-mirror")
    channeldata = json.loads((first / "channeldata.json").read_text())
    assert channeldata["subdirs"] == ["linux-64", "noarch"]
    assert set(channeldata["packages"]) == {"alpha", "beta", "gamma"}
    with serve_directory(first) as server:
        report = run(server.url, second)  # its subdirs found in its channeldata.json
    assert [p.subdir for p in report.plans] == ["linux-64", "noarch"]
    for subdir in ("noarch", "linux-64"):
        assert records(second, subdir) == records(upstream, subdir)
    assert_consistent(second)


def test_two_runs_into_one_folder_do_not_interleave(upstream: Path, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    run(upstream, dest, subdirs=("noarch",))
    with (dest / ".ophis-mirror" / "lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(MirrorError) as caught:
            run(upstream, dest, subdirs=("noarch",))
    assert "Another 'ophis mirror'" in caught.value.message
    assert records(dest) == records(upstream)
