"""What channels serve most, as clients see it: validators and 304s, content codings for
clients that ask for them, Range on package files, changes seen at once, private channels
never answered to those who may not read them, and package files handed to nginx."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import rattler
import zstandard

from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError
from ophis.server.app import create_app
from ophis.server.services.accounts import accounts
from ophis.server.settings import ServerSettings
from ophis.testing.backends import sends_local_files
from ophis.testing.packages import make_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import ServerDatabase

IDENTITY = {"Accept-Encoding": "identity"}

LOCAL_FILES_ONLY = pytest.mark.skipif(not sends_local_files(), reason="S3 sends redirects")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("made")


@pytest.fixture(scope="module")
def alice(database: ServerDatabase, made: Path) -> str:
    """alice's public channel (a few packages, one private) and pip index; her token."""
    token = database.user("alice")
    for n in range(3):
        database.add("alice", make_package(made, f"tool{n}", "1.0"))
    database.add("alice", make_package(made, "secret-tool", "1.0"), public=False)
    database.add("alice", make_wheel(made, "ophis-demo", "1.0"), kind=DistributionType.PYPI)
    return token


@pytest.fixture(scope="module")
def carol(database: ServerDatabase, made: Path) -> str:
    """carol's private channel (every package private); her token."""
    token = database.user("carol")
    database.add("carol", make_package(made, "carols-tool", "1.0"))
    with database.context.sessions() as session:
        accounts.get_account(session, "carol").private_channel = True
        session.commit()
    return token


def repodata_url(server: RunningServer, owner: str, token: str | None = None) -> str:
    return f"{server.conda(owner, token=token)}/noarch/repodata.json"


def get(url: str, **headers: str) -> httpx.Response:
    return httpx.get(url, headers={**IDENTITY, **headers})


def raw(url: str, **headers: str) -> httpx.Response:
    """The answer with its body as sent (not decoded)."""
    with httpx.stream("GET", url, headers=headers) as response:
        response.raw_body = b"".join(response.iter_raw())  # type: ignore[attr-defined]
    return response


def test_validators_answer_304_and_head_matches_get(server: RunningServer, alice: str) -> None:
    url = repodata_url(server, "alice")
    for _ in range(2):  # the first answer builds; the second comes from memory
        first = get(url)
        assert first.status_code == 200 and "tool0-1.0-0.tar.bz2" in first.json()["packages"]
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    assert first.headers["cache-control"].startswith("public")
    unchanged = get(url, **{"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert get(url, **{"If-None-Match": '"other"'}).status_code == 200
    assert get(url, **{"If-Modified-Since": modified}).status_code == 304
    assert get(url, **{"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 200
    head = httpx.head(url, headers=IDENTITY)
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(first.content)


@pytest.mark.parametrize(
    ("coding", "decode"), [("gzip", gzip.decompress), ("zstd", zstandard.decompress)]
)
def test_a_client_asking_for_a_coding_gets_the_same_repodata_compressed(
    server: RunningServer, alice: str, coding: str, decode: object
) -> None:
    url = repodata_url(server, "alice")
    plain = get(url)
    for _ in range(2):
        compressed = raw(url, **{"Accept-Encoding": coding})
        assert compressed.headers["content-encoding"] == coding
        assert decode(compressed.raw_body) == plain.content  # type: ignore[attr-defined, operator]
    assert "Accept-Encoding" in compressed.headers["vary"]
    assert "content-encoding" not in plain.headers
    # one ETag per coding; a conditional request matches any coding of the same bytes
    assert compressed.headers["etag"] != plain.headers["etag"]
    coded = compressed.headers["etag"]
    assert get(url, **{"If-None-Match": coded}).status_code == 304
    refused = raw(url, **{"Accept-Encoding": f"{coding};q=0"})
    assert "content-encoding" not in refused.headers


def test_pip_pages_are_gzipped_for_a_gzip_client_and_pip_reads_them(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    simple = f"{server.url}/pypi/alice/simple/ophis-demo/"
    page = raw(simple, **{"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip"
    assert gzip.decompress(page.raw_body) == get(simple).content  # type: ignore[attr-defined]
    downloaded = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir"),
            *("--disable-pip-version-check", "--index-url", f"{server.url}/pypi/alice/simple"),
            *("--dest", str(tmp_path), "ophis-demo"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert downloaded.returncode == 0, downloaded.stderr
    assert list(tmp_path.glob("ophis_demo-1.0-*.whl"))


def test_rattler_reads_the_channel_twice_the_same(
    server: RunningServer, alice: str, tmp_path: Path
) -> None:
    """The second solve reads what the first left in memory (shards and their index)."""
    for n in range(2):
        records = asyncio.run(
            rattler.solve(
                [rattler.Channel(server.conda("alice"))],
                ["tool1"],
                gateway=rattler.Gateway(cache_dir=tmp_path / str(n)),
                platforms=["noarch"],
            )
        )
        assert [r.name.normalized for r in records] == ["tool1"]


@LOCAL_FILES_ONLY
def test_package_files_answer_ranges_and_count_downloads(
    server: RunningServer, alice: str, database: ServerDatabase
) -> None:
    url = f"{server.conda('alice')}/noarch/tool2-1.0-0.tar.bz2"
    whole = get(url).content
    assert (
        get(url, **{"If-None-Match": f'"{hashlib.sha256(whole).hexdigest()}"'}).status_code == 304
    )
    assert database.downloads("alice", "noarch/tool2-1.0-0.tar.bz2") == 2
    part = get(url, Range="bytes=0-9")
    assert part.status_code == 206 and part.content == whole[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(whole)}"
    assert get(url, Range=f"bytes={len(whole) + 10}-").status_code == 416


def test_an_upload_and_a_package_made_private_show_at_once(
    server: RunningServer, alice: str, database: ServerDatabase, made: Path
) -> None:
    url = repodata_url(server, "alice")
    before = get(url)
    before = get(url)  # from memory
    database.add("alice", make_package(made, "fresh-tool", "1.0"))
    after = get(url, **{"If-None-Match": before.headers["etag"]})
    assert after.status_code == 200 and "fresh-tool-1.0-0.tar.bz2" in after.json()["packages"]
    database.set_public("alice", "fresh-tool", False)  # no new revision: only who sees it
    hidden = get(url, **{"If-None-Match": after.headers["etag"]})
    assert hidden.status_code == 200
    assert "fresh-tool-1.0-0.tar.bz2" not in hidden.json()["packages"]
    assert (
        "fresh-tool-1.0-0.tar.bz2" in get(repodata_url(server, "alice", alice)).json()["packages"]
    )


def test_a_private_channel_is_never_served_to_those_who_may_not_read_it(
    server: RunningServer, alice: str, carol: str
) -> None:
    own = get(repodata_url(server, "carol", carol))
    assert "carols-tool-1.0-0.tar.bz2" in own.json()["packages"]
    strangers = {"anonymous": None, "alice's token": alice}
    for who, token in strangers.items():
        for _ in range(2):
            answer = get(repodata_url(server, "carol", token))
            assert "carols-tool-1.0-0.tar.bz2" not in answer.text, who
            # carol's ETag tells a stranger nothing: no 304 for it
            probe = get(
                repodata_url(server, "carol", token), **{"If-None-Match": own.headers["etag"]}
            )
            assert probe.status_code != 304, who
            for coding in ("gzip", "zstd"):
                coded = raw(repodata_url(server, "carol", token), **{"Accept-Encoding": coding})
                assert b"carols-tool" not in coded.raw_body, who  # type: ignore[attr-defined]
            package = get(f"{server.conda('carol', token=token)}/noarch/carols-tool-1.0-0.tar.bz2")
            assert package.status_code == 404, who
    shard_index = f"{server.conda('carol')}/noarch/repodata_shards.msgpack.zst"
    assert b"carols-tool" not in zstandard.decompress(get(shard_index).content)


@pytest.fixture(scope="module")
def nginx_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(os.environ, "OPHIS_ACCEL_REDIRECT", "nginx")
        patch.setitem(os.environ, "OPHIS_ACCEL_REDIRECT_PREFIX", "/protected")
        with run_server(tmp_path_factory.mktemp("nginx") / "data") as running:
            yield running


@LOCAL_FILES_ONLY
def test_accel_redirect_hands_authorized_files_to_nginx(
    nginx_server: RunningServer, tmp_path: Path
) -> None:
    database = ServerDatabase(nginx_server)
    try:
        token = database.user("erin")
        basename = database.add("erin", make_package(tmp_path, "erins-tool", "1.0"), public=False)
    finally:
        database.close()
    url = f"{nginx_server.conda('erin', token=token)}/{basename}"
    handed = httpx.get(url)
    assert handed.status_code == 200 and handed.content == b""
    assert handed.headers["x-accel-redirect"].startswith("/protected/")
    assert handed.headers["x-accel-redirect"].endswith("/erins-tool-1.0-0.tar.bz2")
    refused = httpx.get(f"{nginx_server.conda('erin')}/{basename}")
    assert refused.status_code == 404 and "x-accel-redirect" not in refused.headers


def test_an_unknown_accel_redirect_stops_the_server_named(tmp_path: Path) -> None:
    with pytest.raises(OphisError) as refused:
        create_app(ServerSettings(data_dir=tmp_path, accel_redirect="apache"))
    assert "accel_redirect = 'apache'" in refused.value.message
    assert "X-Sendfile" in refused.value.remedy
