"""Package files and compressed repodata from the hot path, as clients see them: every
download counted (in the database within a second, before any page shows counts, and when
the server stops), large files in slices with Range, a file taken out of the channel gone
at once, and ``repodata.json.bz2`` for old conda."""

from __future__ import annotations

import bz2
import hashlib
import os
import signal
import time

import httpx
import pytest
from sqlalchemy import select

from ophis.server.context import ServerContext
from ophis.server.db.models import File
from ophis.testing.backends import sends_local_files
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase

LOCAL_FILES_ONLY = pytest.mark.skipif(not sends_local_files(), reason="S3 sends redirects")


@pytest.fixture(scope="module")
def dana(database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """dana's public channel: a small package and one larger than what is held in memory."""
    folder = tmp_path_factory.mktemp("dana")
    database.user("dana")
    big = make_package(folder, "big-tool", files={"data.bin": os.urandom(3 * 1024**2 // 2)})
    return {
        "small": database.add("dana", make_package(folder, "small-tool")),
        "big": database.add("dana", big),
        "gone": database.add("dana", make_package(folder, "gone-tool")),
    }


def stored_downloads(server: RunningServer, basename: str) -> int:
    """The count in the database itself, read without asking the server."""
    context = ServerContext.open(server.settings, upgrade=False)
    try:
        with context.sessions() as session:
            query = select(File.download_count).where(File.basename == basename)
            return session.scalars(query).one()
    finally:
        context.close()


@LOCAL_FILES_ONLY
def test_downloads_reach_the_database_within_a_second_without_other_requests(
    server: RunningServer, dana: dict[str, str]
) -> None:
    url = f"{server.conda('dana')}/{dana['small']}"
    for _ in range(3):
        assert httpx.get(url).status_code == 200
    assert httpx.head(url).status_code == 200  # not a download
    deadline = time.monotonic() + 5
    while stored_downloads(server, dana["small"]) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stored_downloads(server, dana["small"]) == 3


@LOCAL_FILES_ONLY
def test_a_large_file_is_sent_whole_and_in_ranges(
    server: RunningServer, dana: dict[str, str], database: ServerDatabase
) -> None:
    url = f"{server.conda('dana')}/{dana['big']}"
    whole = httpx.get(url)
    assert whole.status_code == 200 and len(whole.content) > 1024**2
    assert whole.headers["etag"] == f'"{hashlib.sha256(whole.content).hexdigest()}"'
    part = httpx.get(url, headers={"Range": "bytes=1048570-1048579"})
    assert part.status_code == 206 and part.content == whole.content[1048570:1048580]
    assert httpx.get(url, headers={"If-None-Match": whole.headers["etag"]}).status_code == 304
    assert database.downloads("dana", dana["big"]) == 3


@LOCAL_FILES_ONLY
def test_a_file_taken_out_of_the_channel_is_no_longer_served(
    server: RunningServer, dana: dict[str, str], database: ServerDatabase
) -> None:
    url = f"{server.conda('dana')}/{dana['gone']}"
    assert httpx.get(url).status_code == 200  # now held in memory
    database.remove("dana", dana["gone"])
    assert httpx.get(url).status_code == 404


def test_repodata_json_bz2_is_served_as_conda_index_writes_it(
    server: RunningServer, dana: dict[str, str]
) -> None:
    """Old conda asks for ``repodata.json.bz2``; it decompresses to ``repodata.json``."""
    for name in ("repodata.json", "current_repodata.json"):
        url = f"{server.conda('dana')}/noarch/{name}"
        plain = httpx.get(url, headers={"Accept-Encoding": "identity"}).content
        for _ in range(2):  # built, then from memory
            compressed = httpx.get(f"{url}.bz2", headers={"Accept-Encoding": "identity"})
            assert compressed.status_code == 200
            assert compressed.headers["content-type"] == "application/x-bzip2"
            assert bz2.decompress(compressed.content) == plain
        etag = compressed.headers["etag"]
        assert httpx.get(f"{url}.bz2", headers={"If-None-Match": etag}).status_code == 304


@LOCAL_FILES_ONLY
def test_downloads_answered_just_before_the_server_stops_are_counted(
    server: RunningServer, dana: dict[str, str]
) -> None:
    """Last in this module: it stops the module's server."""
    url = f"{server.conda('dana')}/{dana['small']}"
    before = stored_downloads(server, dana["small"])
    for _ in range(4):
        assert httpx.get(url).status_code == 200
    server.process.send_signal(signal.SIGINT)  # as an operator stops it, within the second
    assert server.process.wait(10) == 0
    assert stored_downloads(server, dana["small"]) == before + 4
