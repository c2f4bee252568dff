"""Fetching repodata from a real HTTP server on 127.0.0.1, with the cache in between."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.client.repodata_cache import (
    FetchOptions,
    RepodataUnavailable,
    UnavailableInvalidChannel,
    fetch_all,
)
from ophis.core.channel import ChannelContext, parse_channel
from ophis.core.errors import OphisError
from ophis.indexer.channel_index import index_channel
from ophis.testing.http import serve_directory
from ophis.testing.packages import make_package


@pytest.fixture
def channel_dir(tmp_path: Path) -> Path:
    root = tmp_path / "served" / "mychannel"
    make_package(root / "noarch", "alpha", "1.0", "0")
    make_package(root / "linux-64", "beta", "2.0", "0", subdir="linux-64")
    index_channel(root)
    return root


def fetch(url: str, cache: Path, **options):
    channel = parse_channel(url, ChannelContext())
    return {
        s.subdir: s.path
        for s in fetch_all(
            [channel], ["linux-64", "noarch", "osx-arm64"], FetchOptions(cache, **options)
        )
    }


def test_prefers_zst_then_revalidates(channel_dir: Path, tmp_path: Path) -> None:
    with serve_directory(channel_dir.parent) as server:
        paths = fetch(f"{server.url}/mychannel", tmp_path / "cache", ttl_seconds=0)
        records = json.loads(paths["noarch"].read_bytes())["packages"]
        assert list(records) == ["alpha-1.0-0.tar.bz2"]
        assert paths["osx-arm64"] is None  # no such subdir: 404 for both variants
        first = list(server.requests)
        assert ("/mychannel/noarch/repodata.json.zst", 200) in first

        server.requests.clear()
        again = fetch(f"{server.url}/mychannel", tmp_path / "cache", ttl_seconds=0)
        assert again["noarch"] == paths["noarch"]
        assert ("/mychannel/noarch/repodata.json.zst", 304) in server.requests


def test_within_ttl_no_request_is_made(channel_dir: Path, tmp_path: Path) -> None:
    with serve_directory(channel_dir.parent) as server:
        fetch(f"{server.url}/mychannel", tmp_path / "cache", ttl_seconds=3600)
        server.requests.clear()
        paths = fetch(f"{server.url}/mychannel", tmp_path / "cache", ttl_seconds=3600)
        assert server.requests == []
        assert paths["linux-64"] is not None


def test_offline_uses_the_cache_or_says_why(channel_dir: Path, tmp_path: Path) -> None:
    with serve_directory(channel_dir.parent) as server:
        url = f"{server.url}/mychannel"
        with pytest.raises(RepodataUnavailable, match="--offline"):
            fetch(url, tmp_path / "cache", offline=True)
        fetch(url, tmp_path / "cache")
        server.requests.clear()
        assert fetch(url, tmp_path / "cache", offline=True, ttl_seconds=0)["noarch"] is not None
        assert server.requests == []


def test_token_channels_and_refusals(channel_dir: Path, tmp_path: Path) -> None:
    with serve_directory(channel_dir.parent, token="tk-123") as server:
        paths = fetch(f"{server.url}/t/tk-123/mychannel", tmp_path / "cache")
        assert paths["noarch"] is not None
        with pytest.raises(RepodataUnavailable, match="HTTP 403 FORBIDDEN") as refused:
            fetch(f"{server.url}/t/wrong-1/mychannel", tmp_path / "cache2")
        assert refused.value.exception_name == "CondaHTTPError"
        assert "wrong-1" not in str(refused.value) + json.dumps(refused.value.to_json())
        cached = " ".join(p.read_text() for p in (tmp_path / "cache").glob("*.state.json"))
        assert "tk-123" not in cached


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RepodataUnavailable, match="Could not reach") as failed:
        fetch("http://127.0.0.1:9/nothing", tmp_path / "cache", timeout_seconds=2)
    assert failed.value.fields["status_code"] == "000"  # conda's "CONNECTION FAILED"


def test_a_channel_without_noarch_is_no_channel(channel_dir: Path, tmp_path: Path) -> None:
    """conda's rule: a missing platform subdir is empty, a missing noarch is an error."""
    with (
        serve_directory(channel_dir.parent) as server,
        pytest.raises(UnavailableInvalidChannel, match="HTTP 404 NOT FOUND") as gone,
    ):
        fetch(f"{server.url}/elsewhere", tmp_path / "cache")
    assert gone.value.fields["channel_url"] == f"{server.url}/elsewhere"
    with pytest.raises(UnavailableInvalidChannel):
        fetch((tmp_path / "nowhere").as_uri(), tmp_path / "cache")


def test_file_channels_are_read_in_place(channel_dir: Path, tmp_path: Path) -> None:
    paths = fetch(channel_dir.as_uri(), tmp_path / "cache")
    assert paths["noarch"] == channel_dir / "noarch" / "repodata.json"
    assert paths["osx-arm64"] is None
    assert not (tmp_path / "cache").exists()


def test_shards_are_used_when_names_are_given(channel_dir: Path, tmp_path: Path) -> None:
    with serve_directory(channel_dir.parent) as server:
        channel = parse_channel(f"{server.url}/mychannel", ChannelContext())
        fetched = fetch_all([channel], ["noarch"], FetchOptions(tmp_path / "cache"), {"alpha"})
    records = json.loads(fetched[0].path.read_bytes())["packages"]
    assert list(records) == ["alpha-1.0-0.tar.bz2"]
    assert (
        records["alpha-1.0-0.tar.bz2"]["sha256"]
        == json.loads((channel_dir / "noarch" / "repodata.json").read_bytes())["packages"][
            "alpha-1.0-0.tar.bz2"
        ]["sha256"]
    )  # hashes back to hex, as in repodata
    assert not any("repodata.json" in path for path, _ in server.requests)


def test_a_tampered_shard_is_refused(channel_dir: Path, tmp_path: Path) -> None:
    shard = next((channel_dir / "noarch" / "shards").iterdir())
    shard.write_bytes(shard.read_bytes() + b"\0")
    with serve_directory(channel_dir.parent) as server:
        channel = parse_channel(f"{server.url}/mychannel", ChannelContext())
        with pytest.raises(OphisError, match="does not match its checksum"):
            fetch_all([channel], ["noarch"], FetchOptions(tmp_path / "cache"), {"alpha"})


def test_without_shards_the_whole_repodata_is_fetched(channel_dir: Path, tmp_path: Path) -> None:
    (channel_dir / "noarch" / "repodata_shards.msgpack.zst").unlink()
    with serve_directory(channel_dir.parent) as server:
        channel = parse_channel(f"{server.url}/mychannel", ChannelContext())
        fetched = fetch_all([channel], ["noarch"], FetchOptions(tmp_path / "cache"), {"alpha"})
        assert ("/mychannel/noarch/repodata_shards.msgpack.zst", 404) in server.requests
        assert ("/mychannel/noarch/repodata.json.zst", 200) in server.requests
    assert "alpha-1.0-0.tar.bz2" in json.loads(fetched[0].path.read_bytes())["packages"]
