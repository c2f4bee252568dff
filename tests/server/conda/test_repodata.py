"""Conda channels served from the database: repodata and its companions, caching with
ETags, invalidation of only what changed, and private packages."""

from __future__ import annotations

import bz2
import hashlib
import json
from pathlib import Path

import httpx
import pytest
import zstandard

from ophis.core.shards import read_shard, read_shards_index
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase

RECIPES = ("noarch/dependency-1.0-0.tar.bz2", "noarch/dependency-2.0-0.tar.bz2")
RECIPES += ("noarch/dependent-2.0-0.tar.bz2", "noarch/versioned-1.0-0.conda")
RECIPES += ("linux-fake/arch-package-1.0-0.tar.bz2",)


@pytest.fixture(scope="module")
def alice(
    database: ServerDatabase, testdata: Path, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """alice's channel: conda's test recipes in main, a private package, a dev label, and a
    label holding only a private package; returns alice's token."""
    token = database.user("alice")
    made = tmp_path_factory.mktemp("made")
    for recipe in RECIPES:
        database.add("alice", testdata / "conda" / "test-recipes" / recipe)
    database.add("alice", make_package(made, "secret-tool", "1.0"), public=False)
    database.add("alice", make_package(made, "dev-tool", "0.1"), labels=["dev"])
    database.add("alice", make_package(made, "hush", "0.1"), labels=["hidden"], public=False)
    return token


def get(url: str, **headers: str) -> httpx.Response:
    """A GET as conda sends it: following a package file's redirect to S3, if any."""
    return httpx.get(url, headers=headers, follow_redirects=True)


def files_of(repodata: dict) -> set[str]:
    return {*repodata["packages"], *repodata["packages.conda"]}


def test_repodata_lists_the_files_of_the_channel(
    server: RunningServer, alice: str, testdata: Path
) -> None:
    noarch = get(f"{server.conda('alice')}/noarch/repodata.json")
    assert noarch.status_code == 200
    assert noarch.headers["content-type"] == "application/json"
    repodata = noarch.json()
    assert repodata["info"] == {"subdir": "noarch"}
    assert repodata["repodata_version"] == 1
    assert set(repodata["packages"]) == {
        "dependency-1.0-0.tar.bz2",
        "dependency-2.0-0.tar.bz2",
        "dependent-2.0-0.tar.bz2",
    }
    assert set(repodata["packages.conda"]) == {"versioned-1.0-0.conda"}
    archive = testdata / "conda" / "test-recipes" / "noarch" / "dependent-2.0-0.tar.bz2"
    record = repodata["packages"]["dependent-2.0-0.tar.bz2"]
    assert record["sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record["depends"] == ["dependency >=2.0,<3.0a0"]
    fake = get(f"{server.conda('alice')}/linux-fake/repodata.json").json()
    assert files_of(fake) == {"arch-package-1.0-0.tar.bz2"}
    dev = get(f"{server.conda('alice', 'dev')}/noarch/repodata.json").json()
    assert files_of(dev) == {"dev-tool-0.1-0.tar.bz2"}


def test_empty_subdirs_answer_and_unknown_channels_do_not(
    server: RunningServer, alice: str
) -> None:
    for subdir in ("linux-64", "osx-arm64"):
        empty = get(f"{server.conda('alice')}/{subdir}/repodata.json")
        assert empty.status_code == 200
        assert empty.json()["info"]["subdir"] == subdir and files_of(empty.json()) == set()
    for url in (
        f"{server.conda('nobody')}/noarch/repodata.json",
        f"{server.conda('alice')}/not-a-platform/repodata.json",
        f"{server.conda('alice', 'nope')}/noarch/repodata.json",
        f"{server.conda('alice')}/noarch%00/repodata.json",
        f"{server.conda('alice')}/@pypi/repodata.json",
    ):
        missing = get(url)
        assert missing.status_code == 404, url
        assert missing.json()["error"] and missing.json()["remedy"]


def test_compressed_twins_and_current_repodata(server: RunningServer, alice: str) -> None:
    base = f"{server.conda('alice')}/noarch"
    plain = get(f"{base}/repodata.json").content
    zst = get(f"{base}/repodata.json.zst")
    assert zst.headers["content-type"] == "application/zstd"
    assert zstandard.ZstdDecompressor().stream_reader(zst.content).read() == plain
    assert bz2.decompress(get(f"{base}/repodata.json.bz2").content) == plain
    current = get(f"{base}/current_repodata.json").json()
    assert "dependency-2.0-0.tar.bz2" in current["packages"]
    assert "dependency-1.0-0.tar.bz2" not in current["packages"]
    assert (
        bz2.decompress(get(f"{base}/current_repodata.json.bz2").content)
        == json.dumps(current, indent=2, sort_keys=True).encode()
    )


def test_etag_and_last_modified_answer_304(server: RunningServer, alice: str) -> None:
    url = f"{server.conda('alice')}/noarch/repodata.json"
    first = get(url)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    assert get(url, **{"If-None-Match": etag}).status_code == 304
    assert get(url, **{"If-None-Match": f'"other", W/{etag}'}).status_code == 304
    assert get(url, **{"If-None-Match": '"other"'}).status_code == 200
    assert get(url, **{"If-Modified-Since": modified}).status_code == 304
    assert get(url, **{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    head = httpx.head(url)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == etag
    # httpx asks for gzip and zstd: both answers are in the same coding
    assert head.headers["content-length"] == first.headers["content-length"]


def test_a_change_rebuilds_only_its_subdir_and_label(
    server: RunningServer, alice: str, database: ServerDatabase, tmp_path: Path
) -> None:
    urls = {
        "fake": f"{server.conda('alice')}/linux-fake/repodata.json",
        "noarch": f"{server.conda('alice')}/noarch/repodata.json",
        "dev": f"{server.conda('alice', 'dev')}/noarch/repodata.json",
    }
    before = {name: get(url).headers["etag"] for name, url in urls.items()}
    built = cache_files(server)
    added = database.add("alice", make_package(tmp_path, "extra", "1.0", subdir="linux-fake"))

    after = {name: get(url) for name, url in urls.items()}
    assert "extra-1.0-0.tar.bz2" in after["fake"].json()["packages"]
    assert after["fake"].headers["etag"] != before["fake"]
    assert get(urls["fake"], **{"If-None-Match": before["fake"]}).status_code == 200
    for name in ("noarch", "dev"):
        assert after[name].headers["etag"] == before[name]
        assert get(urls[name], **{"If-None-Match": before[name]}).status_code == 304
    rebuilt = cache_files(server)
    unchanged = {path: mtime for path, mtime in built.items() if "linux-fake" not in path}
    assert {path: rebuilt.get(path) for path in unchanged} == unchanged
    assert not any("linux-fake" in path for path in set(built) & set(rebuilt))

    database.remove("alice", added)
    again = get(urls["fake"])
    assert "extra-1.0-0.tar.bz2" not in again.json()["packages"]
    assert again.headers["etag"] == before["fake"]  # the same bytes: the same ETag


def cache_files(server: RunningServer) -> dict[str, int]:
    root = server.data_dir / "cache"
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_channeldata_summarises_the_channel(server: RunningServer, alice: str) -> None:
    channeldata = get(f"{server.conda('alice')}/channeldata.json").json()
    assert channeldata["channeldata_version"] == 1
    assert channeldata["packages"]["dependency"]["version"] == "2.0"
    assert channeldata["packages"]["arch-package"]["subdirs"] == ["linux-fake"]
    assert channeldata["subdirs"] == ["linux-fake", "noarch"]
    dev = get(f"{server.conda('alice', 'dev')}/channeldata.json").json()
    assert list(dev["packages"]) == ["dev-tool"]


def test_package_files_are_served_and_counted(
    server: RunningServer, alice: str, database: ServerDatabase, testdata: Path
) -> None:
    url = f"{server.conda('alice')}/noarch/dependency-2.0-0.tar.bz2"
    archive = testdata / "conda" / "test-recipes" / "noarch" / "dependency-2.0-0.tar.bz2"
    before = database.downloads("alice", "noarch/dependency-2.0-0.tar.bz2")
    response = get(url)
    assert response.status_code == 200 and response.content == archive.read_bytes()
    head = httpx.head(url)  # the server's own validator (after a redirect: S3's ETag)
    assert head.status_code == 200
    assert get(url, **{"If-None-Match": head.headers["etag"]}).status_code == 304
    assert database.downloads("alice", "noarch/dependency-2.0-0.tar.bz2") == before + 2
    # the dev label does not serve it: it points to where the file is
    elsewhere = httpx.get(f"{server.conda('alice', 'dev')}/noarch/dependency-2.0-0.tar.bz2")
    assert elsewhere.status_code == 302
    assert elsewhere.headers["location"] == "../../../noarch/dependency-2.0-0.tar.bz2"
    assert get(f"{server.conda('alice', 'dev')}/noarch/absent-1.0-0.tar.bz2").status_code == 404


# --- private packages ----------------------------------------------------------------------


def test_private_packages_are_invisible_without_a_token(server: RunningServer, alice: str) -> None:
    assert "secret-tool-1.0-0.tar.bz2" not in files_of(
        get(f"{server.conda('alice')}/noarch/repodata.json").json()
    )
    assert "secret-tool" not in get(f"{server.conda('alice')}/channeldata.json").json()["packages"]
    private_file = get(f"{server.conda('alice')}/noarch/secret-tool-1.0-0.tar.bz2")
    absent_file = get(f"{server.conda('alice')}/noarch/no-such-tool-1.0-0.tar.bz2")
    assert private_file.status_code == absent_file.status_code == 404
    assert private_file.json() == absent_file.json()  # nothing tells them apart
    assert "secret" not in private_file.text
    private_label = get(f"{server.conda('alice', 'hidden')}/noarch/repodata.json")
    absent_label = get(f"{server.conda('alice', 'absent')}/noarch/repodata.json")
    assert private_label.status_code == absent_label.status_code == 404
    assert "hush" not in private_label.text


def test_a_token_in_the_url_or_a_header_shows_them(server: RunningServer, alice: str) -> None:
    with_token = get(f"{server.conda('alice', token=alice)}/noarch/repodata.json")
    assert "secret-tool-1.0-0.tar.bz2" in files_of(with_token.json())
    assert with_token.headers["cache-control"].startswith("private")
    header = get(f"{server.conda('alice')}/noarch/repodata.json", Authorization=f"token {alice}")
    assert header.content == with_token.content
    download = get(f"{server.conda('alice', token=alice)}/noarch/secret-tool-1.0-0.tar.bz2")
    assert download.status_code == 200 and download.content.startswith(b"BZh")
    hidden_label = get(f"{server.conda('alice', 'hidden', token=alice)}/noarch/repodata.json")
    assert files_of(hidden_label.json()) == {"hush-0.1-0.tar.bz2"}
    channeldata = get(f"{server.conda('alice', token=alice)}/channeldata.json").json()
    assert "secret-tool" in channeldata["packages"]


def test_tokens_without_access_see_only_public_packages(
    server: RunningServer, alice: str, database: ServerDatabase
) -> None:
    bob = database.user("bob")
    narrow = server.login("alice", "alice-password", scopes=["api:read"])
    for token in (bob, narrow):
        repodata = get(f"{server.conda('alice', token=token)}/noarch/repodata.json").json()
        assert "secret-tool-1.0-0.tar.bz2" not in files_of(repodata)
        secret = f"{server.conda('alice', token=token)}/noarch/secret-tool-1.0-0.tar.bz2"
        assert get(secret).status_code == 404
    downloader = server.login("alice", "alice-password", scopes=["conda:download"])
    repodata = get(f"{server.conda('alice', token=downloader)}/noarch/repodata.json").json()
    assert "secret-tool-1.0-0.tar.bz2" in files_of(repodata)


def test_bad_and_revoked_tokens_get_401(server: RunningServer, alice: str) -> None:
    revoked = server.login("alice", "alice-password")
    assert (
        httpx.delete(
            f"{server.api}/authentications", headers={"Authorization": f"token {revoked}"}
        ).status_code
        == 201
    )
    for token in ("oph-not-a-real-token", revoked):
        refused = get(f"{server.conda('alice', token=token)}/noarch/repodata.json")
        assert refused.status_code == 401
        assert "invalid, expired or revoked" in refused.json()["error"]


def test_private_changes_do_not_show_to_the_public(
    server: RunningServer, alice: str, database: ServerDatabase, tmp_path: Path
) -> None:
    url = f"{server.conda('alice')}/noarch/repodata.json"
    public_etag = get(url).headers["etag"]
    owner_etag = get(url, Authorization=f"token {alice}").headers["etag"]
    database.add("alice", make_package(tmp_path, "secret-tool", "2.0"), public=False)
    assert get(url, **{"If-None-Match": public_etag}).status_code == 304
    assert get(url, Authorization=f"token {alice}").headers["etag"] != owner_etag

    database.set_public("alice", "secret-tool", True)  # no revision bump: a new view
    shown = get(url).json()
    assert {"secret-tool-1.0-0.tar.bz2", "secret-tool-2.0-0.tar.bz2"} <= files_of(shown)
    database.set_public("alice", "secret-tool", False)
    assert "secret-tool-2.0-0.tar.bz2" not in files_of(get(url).json())
    assert get(url).headers["etag"] == public_etag


# --- shards --------------------------------------------------------------------------------


def test_shards_match_repodata(server: RunningServer, alice: str) -> None:
    base = f"{server.conda('alice', token=alice)}/noarch"
    repodata = get(f"{base}/repodata.json").json()
    index = read_shards_index(get(f"{base}/repodata_shards.msgpack.zst").content)
    assert index["info"]["subdir"] == "noarch"
    assert set(index["shards"]) == {r["name"] for r in repodata["packages"].values()} | {
        r["name"] for r in repodata["packages.conda"].values()
    }
    from_shards: dict[str, dict] = {"packages": {}, "packages.conda": {}}
    for digest in index["shards"].values():
        response = get(f"{base}/shards/{digest}.msgpack.zst")
        assert hashlib.sha256(response.content).hexdigest() == digest
        assert "immutable" in response.headers["cache-control"]
        shard = read_shard(response.content)
        for key in from_shards:
            from_shards[key].update(shard[key])
    assert from_shards == {key: repodata[key] for key in from_shards}
    assert get(f"{base}/shards/{'0' * 64}.msgpack.zst").status_code == 404
    assert get(f"{base}/shards/..").status_code == 404
