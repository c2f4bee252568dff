"""Hostile packages uploaded to a real server (raw HTTP, and once through the real
``anaconda`` client): each is refused with a 400 naming the file and the reason, nothing is
stored, the server's memory stays bounded, and the channel's documents still answer and
still load in py-rattler. Records that an older version stored unchecked are left out of
the channel's documents, also after a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from rattler import RepoData
from sqlalchemy import select

from ophis.server.db.models import File
from ophis.testing import hostile_archives as hostile
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.http import headers
from ophis.testing.memory import peak_rss, reset_peak, rss
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import database, file_rows, leftovers
from ophis.testing.uploads import sha256_of, stage, storage_post

MiB, GiB = 1024**2, 1024**3

#: hostile archives (built by the tests) and the words of their refusal
ARCHIVES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "pax-size": (
        lambda d: hostile.pax_header_bomb(d, ".conda", GiB),
        f"has a PAX tar header declaring {GiB} bytes",
    ),
    "gnu-longname": (
        lambda d: hostile.gnu_long_bomb(d, ".tar.bz2", 64 * MiB),
        "has a GNU long name tar header declaring",
    ),
    "gnu-longlink": (
        lambda d: hostile.gnu_long_bomb(d, ".conda", GiB, link=True, name="linkbomb"),
        "has a GNU long link tar header declaring",
    ),
    "pax-global": (
        lambda d: hostile.pax_global_bomb(d, ".conda", 16 * MiB),
        "bytes of PAX global headers",
    ),
    "header-chain": (
        lambda d: hostile.header_chain(d, ".tar.bz2", 5000),
        "extended tar headers in front of one member",
    ),
    "sparse": (lambda d: hostile.sparse_bomb(d, ".conda", 100), "contains a GNU sparse file"),
    "zstd-window": (lambda d: hostile.zstd_window_bomb(d, 31), "-byte window"),
    "big-index": (
        lambda d: hostile.oversized_metadata(d, ".conda", "info/index.json", 2 * MiB),
        f"info/index.json is {2 * MiB} bytes, more than the limit",
    ),
    "info-bomb": (
        lambda d: hostile.info_bomb(d, ".tar.bz2", 40 * MiB),
        "possible decompression bomb",
    ),
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good(api: httpx.Client, built: Path) -> Path:
    """A sane package, uploaded first, so the channel has something to serve."""
    path = make_package(built / "good", "goodpkg", "1.0", "0", depends=["python"])
    assert upload(api, path).status_code == 200
    return path


def upload(api: httpx.Client, path: Path) -> httpx.Response:
    """The client's whole handshake by hand: package, release, stage, storage POST, commit;
    returns the commit's answer."""
    name, version = path.name.split("-")[:2]
    api.post(f"/package/admin/{name}", json={})
    api.post(f"/release/admin/{name}/{version}", json={})
    basename = f"noarch/{path.name}"
    staged = stage(api, path, basename, spec=f"admin/{name}/{version}")
    assert staged.status_code == 200, staged.text
    assert storage_post(staged.json(), path).status_code == 201
    dist = {"dist_id": staged.json()["dist_id"]}
    return api.post(f"/commit/admin/{name}/{version}/{quote(basename)}", json=dist)


def assert_refused(server: RunningServer, api: httpx.Client, path: Path, words: str) -> None:
    answer = upload(api, path)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert path.name in error and words in error, error
    assert file_rows(server, sha256_of(path)) == 0


@pytest.mark.parametrize("case", sorted(ARCHIVES))
def test_hostile_archives_are_refused_naming_the_limit(
    server: RunningServer, api: httpx.Client, built: Path, good: Path, case: str
) -> None:
    build, words = ARCHIVES[case]
    assert_refused(server, api, build(built / case), words)


@pytest.mark.parametrize(("name", "field", "value"), hostile.BAD_FIELDS)
def test_index_fields_of_the_wrong_type_are_refused_naming_the_field(
    server: RunningServer, api: httpx.Client, built: Path, good: Path, name: str, field: str, value
) -> None:
    path = hostile.with_index(built / "fields", ".conda", name, **{field: value})
    assert_refused(server, api, path, f"info/index.json: '{field}' ")


@pytest.mark.parametrize(("name", "text", "words"), hostile.BAD_TEXTS)
def test_index_json_that_is_not_plain_json_is_refused(
    server: RunningServer, api: httpx.Client, built: Path, good: Path, name: str, text, words: str
) -> None:
    path = hostile.with_index_text(built / "texts", ".tar.bz2", text(name), name)
    assert_refused(server, api, path, words)


def test_the_anaconda_client_shows_the_reason(
    server: RunningServer, cli: AnacondaClient, api: httpx.Client, built: Path, good: Path
) -> None:
    path = hostile.with_index(built / "client", ".tar.bz2", "clientbad", build_number="7")
    result = cli("upload", str(path))
    assert result.returncode != 0
    # the client shows the server's error as a Python repr (quotes escaped)
    assert "build_number" in result.output and "must be a non-negative integer" in result.output
    assert file_rows(server, sha256_of(path)) == 0 and leftovers(server) == []


def test_the_server_memory_stays_bounded(
    server: RunningServer, api: httpx.Client, built: Path, good: Path
) -> None:
    """Before the fix one 33 KB upload below took the server to 3 GB."""
    bombs = [
        hostile.pax_header_bomb(built / "memory", ".conda", GiB, name="membomb"),
        hostile.gnu_long_bomb(built / "memory", ".conda", GiB, name="memgnu"),
    ]
    pid = server.process.pid
    idle = rss(pid)
    reset_peak(pid)
    for path in bombs:
        assert upload(api, path).status_code == 400
    assert peak_rss(pid) - idle < 100 * MiB


def channel_documents(server: RunningServer, target: Path, token: str | None = None) -> tuple:
    """Fetch the channel's documents (each must answer 200), load repodata.json and
    current_repodata.json in py-rattler; the files repodata.json lists, and the package
    names channeldata.json lists."""
    base = server.conda("admin")
    with httpx.Client(headers=headers(token)) as client:
        for name in ("repodata.json", "current_repodata.json"):
            answer = client.get(f"{base}/noarch/{name}")
            assert answer.status_code == 200, answer.text
            (target / name).write_bytes(answer.content)
            RepoData.from_path(target / name)  # raises on one unreadable record
        channeldata = client.get(f"{base}/channeldata.json")
        assert channeldata.status_code == 200, channeldata.text
    repodata = json.loads((target / "repodata.json").read_text())
    return {*repodata["packages"], *repodata["packages.conda"]}, set(channeldata.json()["packages"])


def test_the_channel_still_serves_after_the_attempts(
    server: RunningServer, api: httpx.Client, tmp_path: Path, good: Path
) -> None:
    assert channel_documents(server, tmp_path) == ({good.name}, {"goodpkg"})
    sbom = api.get(f"/sbom/admin/goodpkg/1.0/noarch/{good.name}")
    assert sbom.status_code == 200


def test_unreadable_records_stored_by_older_versions_are_left_out(
    tmp_path: Path, built: Path
) -> None:
    """Rows written before the checks existed (here: by hand) break nothing, also after
    a restart; the SBOM of such a file says why there is none."""
    data = tmp_path / "data"
    with run_server(data) as first:
        api = httpx.Client(base_url=first.api, headers=headers(first.login()))
        names = ["keeper", "nanrecord", "strdeps", "deepfacts"]
        paths = {n: make_package(built / "older", n, "1.0", "0") for n in names}
        for path in paths.values():
            assert upload(api, path).status_code == 200
        deep: list = []
        for _ in range(300):
            deep = [deep]
        # PostgreSQL's JSON type never held a NaN; there an old row had a string instead
        bad_number = "one" if first.backend.database_url else float("nan")
        corrupt = {
            "nanrecord": ({"build_number": bad_number}, None),
            "strdeps": ({"depends": "python"}, None),
            "deepfacts": ({}, {"summary": deep}),
        }
        with database(first) as session:
            for name, (record, facts) in corrupt.items():
                row = session.scalars(select(File).where(File.filename == paths[name].name)).one()
                row.record = {**row.record, **record}
                row.facts = facts or row.facts
            session.commit()
        listed = channel_documents(first, tmp_path)
        assert listed == ({paths["keeper"].name, paths["deepfacts"].name}, {"keeper"})
        sbom = api.get(f"/sbom/admin/strdeps/1.0/noarch/{paths['strdeps'].name}")
        assert sbom.status_code == 409 and "'depends' must be a list" in sbom.json()["error"]
        api.close()
    with run_server(data, backend=first.backend) as again:
        assert channel_documents(again, tmp_path) == listed
