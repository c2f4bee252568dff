"""Filling the package cache over real HTTP: resumable, verified, reused by rattler."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from pathlib import Path

import pytest
import rattler

from ophis.core.errors import TransactionError
from ophis.indexer.channel_index import index_channel
from ophis.manager.download import fill_cache
from ophis.manager.transaction import TransactionPlan, execute
from ophis.testing.http import StaticServer, serve_directory
from ophis.testing.packages import make_package

#: incompressible package content, so an archive spans several download chunks
PAYLOAD = random.Random(7).randbytes(600_000)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A channel of two packages: ``big`` (about 600 kB) depends on ``small``."""
    root = tmp_path_factory.mktemp("served") / "chan"
    make_package(root / "noarch", "small", files={"share/small.txt": b"small\n"}, fmt=".conda")
    make_package(root / "noarch", "big", depends=["small"], files={"share/big.bin": PAYLOAD})
    index_channel(root)
    return root


def records(server: StaticServer, channel: Path, *names: str) -> list[rattler.RepoDataRecord]:
    """The channel's records as a client of ``server`` sees them (URLs on the server)."""
    sparse = rattler.SparseRepoData(
        rattler.Channel(f"{server.url}/{channel.name}"),
        "noarch",
        channel / "noarch" / "repodata.json",
    )
    return [r for name in names for r in sparse.load_records(rattler.PackageName(name))]


def archive_requests(server: StaticServer) -> list[tuple[str, int]]:
    return [(path, status) for path, status in server.requests if path.endswith(".tar.bz2")]


BIG = "big-1.0-0.tar.bz2"


def test_interrupted_download_is_resumed_with_a_range_request(served, tmp_path):
    cache = tmp_path / "pkgs"
    source = served / "noarch" / BIG
    half = source.stat().st_size // 2
    with serve_directory(served.parent) as server:
        [big] = records(server, served, "big")
        server.drop_after[f"/chan/noarch/{BIG}"] = half
        with pytest.raises(TransactionError) as caught:
            fill_cache([big], cache)
        assert f"Downloading {big.url} failed" in caught.value.message
        assert "resumes where it stopped" in caught.value.remedy
        assert (cache / f"{BIG}.partial").stat().st_size == half
        assert not (cache / BIG).exists()

        fill_cache([big], cache)

    assert server.ranges == [(f"/chan/noarch/{BIG}", f"bytes={half}-")]
    assert archive_requests(server) == [(f"/chan/noarch/{BIG}", 200), (f"/chan/noarch/{BIG}", 206)]
    assert (cache / BIG).read_bytes() == source.read_bytes()
    assert not (cache / f"{BIG}.partial").exists()
    assert (cache / "big-1.0-0" / "share" / "big.bin").read_bytes() == PAYLOAD


def test_corrupt_partial_is_detected_removed_and_reported(served, tmp_path):
    cache = tmp_path / "pkgs"
    cache.mkdir()
    source = (served / "noarch" / BIG).read_bytes()
    (cache / f"{BIG}.partial").write_bytes(b"\0" * (len(source) // 2))
    with serve_directory(served.parent) as server:
        [big] = records(server, served, "big")
        with pytest.raises(TransactionError) as caught:
            fill_cache([big], cache)
        message = caught.value.message
        assert str(big.url) in message
        assert f"expected sha256 {big.sha256.hex()}" in message
        actual = hashlib.sha256(b"\0" * (len(source) // 2) + source[len(source) // 2 :])
        assert f"got {actual.hexdigest()}" in message
        assert "Run the command again" in caught.value.remedy
        assert not (cache / f"{BIG}.partial").exists()
        assert not (cache / BIG).exists() and not (cache / "big-1.0-0").exists()

        fill_cache([big], cache)  # as the remedy says: the next run starts afresh
    assert (cache / BIG).read_bytes() == source


def test_server_without_range_support_sends_the_whole_file(served, tmp_path):
    cache = tmp_path / "pkgs"
    cache.mkdir()
    source = (served / "noarch" / BIG).read_bytes()
    (cache / f"{BIG}.partial").write_bytes(source[:1000])
    seen: list[tuple[str, int, int]] = []
    with serve_directory(served.parent, ranges=False) as server:
        [big] = records(server, served, "big")
        fill_cache([big], cache, progress=lambda *event: seen.append(event))
    assert archive_requests(server) == [(f"/chan/noarch/{BIG}", 200)]
    assert (cache / BIG).read_bytes() == source
    downloads = [(done, total) for stage, done, total in seen if stage == "download"]
    assert downloads[0] == (1000, len(source))  # the partial counted, then dropped
    assert downloads[-1] == (len(source), len(source))
    assert ("extract", 1, 1) in seen


def test_partial_longer_than_the_package_is_discarded(served, tmp_path):
    cache = tmp_path / "pkgs"
    cache.mkdir()
    source = (served / "noarch" / BIG).read_bytes()
    (cache / f"{BIG}.partial").write_bytes(b"x" * (len(source) + 10))
    with serve_directory(served.parent) as server:
        [big] = records(server, served, "big")
        fill_cache([big], cache)
    assert server.ranges == []  # not resumed: downloaded whole
    assert (cache / BIG).read_bytes() == source


def test_md5_is_checked_when_the_record_has_no_sha256(served, tmp_path):
    index = json.loads((served / "noarch" / "repodata.json").read_text())
    entry = index["packages.conda"]["small-1.0-0.conda"]
    del entry["sha256"]
    entry["md5"] = "0" * 32
    edited = tmp_path / served.name
    (edited / "noarch").mkdir(parents=True)
    (edited / "noarch" / "repodata.json").write_text(json.dumps(index))
    with serve_directory(served.parent) as server:
        [small] = records(server, edited, "small")
        with pytest.raises(TransactionError) as caught:
            fill_cache([small], tmp_path / "pkgs")
    real = hashlib.md5((served / "noarch" / "small-1.0-0.conda").read_bytes()).hexdigest()
    assert f"expected md5 {'0' * 32}, got {real}." in caught.value.message


def test_archive_kept_in_the_cache_is_reused_and_a_damaged_one_replaced(served, tmp_path):
    cache = tmp_path / "pkgs"
    with serve_directory(served.parent) as server:
        [big] = records(server, served, "big")
        fill_cache([big], cache)
        shutil.rmtree(cache / "big-1.0-0")
        fill_cache([big], cache)  # extracted again from the archive the cache kept
        assert len(archive_requests(server)) == 1

        shutil.rmtree(cache / "big-1.0-0")
        (cache / BIG).write_bytes(b"damaged")
        fill_cache([big], cache)
        assert len(archive_requests(server)) == 2
    assert (cache / BIG).read_bytes() == (served / "noarch" / BIG).read_bytes()
    assert (cache / "big-1.0-0" / "share" / "big.bin").read_bytes() == PAYLOAD


def test_failed_request_names_the_url_without_credentials(served, tmp_path):
    with serve_directory(served.parent, token="tok-9") as server:
        [small] = records(server, served, "small")
        rewrites = {f"{server.url}/": f"{server.url}/t/wrong/"}
        with pytest.raises(TransactionError) as caught:
            fill_cache([small], tmp_path / "pkgs", url_rewrites=rewrites)
        assert caught.value.message == f"The channel refused to send {small.url} (HTTP 403)."

        rewrites = {f"{server.url}/": f"{server.url}/t/tok-9/"}
        fill_cache([small], tmp_path / "pkgs", url_rewrites=rewrites)
    assert (tmp_path / "pkgs" / "small-1.0-0" / "share" / "small.txt").read_text() == "small\n"
    assert not any("tok-9" in str(p) for p in (tmp_path / "pkgs").rglob("*"))


def test_rattler_links_from_the_filled_cache_without_downloading_again(served, tmp_path):
    cache = tmp_path / "pkgs"
    with serve_directory(served.parent) as server:
        linked = records(server, served, "small", "big")
        for env in ("first", "second"):
            plan = TransactionPlan(
                prefix=tmp_path / env, link=tuple(linked), unlink=(), final=tuple(linked)
            )
            execute(plan, pkgs_dirs=[cache])
        fetched = sorted(path for path, _status in server.requests)

    # one request per archive: the first environment's; rattler fetched nothing itself,
    # and the second environment came from the warm cache
    assert fetched == ["/chan/noarch/big-1.0-0.tar.bz2", "/chan/noarch/small-1.0-0.conda"]
    for env in ("first", "second"):
        assert (tmp_path / env / "share" / "big.bin").read_bytes() == PAYLOAD
        meta = json.loads((tmp_path / env / "conda-meta" / "big-1.0-0.json").read_text())
        assert meta["url"] == f"{server.url}/chan/noarch/{BIG}"
    assert (cache / BIG).read_bytes() == (served / "noarch" / BIG).read_bytes()
    assert (cache / "small-1.0-0.conda").is_file()
