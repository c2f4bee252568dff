"""repodata.json rebuilt from the entries of the previous build: after a change a channel
shows exactly its files, each with its own record, in the layout of a build from scratch,
and a caller's view never takes a package hidden from it out of another view's build."""

from __future__ import annotations

import hashlib
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from ophis.core.distribution_types import DistributionType
from ophis.core.repodata import build_repodata, dumps
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.server.services.channels.channel_cache import CacheKey, ChannelCache
from ophis.server.services.intake import ingest, inspection
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase


def fetch(url: str) -> tuple[bytes, dict]:
    response = httpx.get(f"{url}/noarch/repodata.json")
    assert response.status_code == 200
    return response.content, orjson.loads(response.content)


def records_of(repodata: dict) -> dict[str, dict]:
    return {**repodata["packages"], **repodata["packages.conda"]}


def assert_laid_out_as_from_scratch(body: bytes, repodata: dict) -> None:
    """The bytes a build of every record at once gives (sections and keys sorted, two-space
    indent): a document joined from reused entries must not differ by a byte."""
    assert body == dumps(build_repodata("noarch", records_of(repodata)))


def test_an_upload_adds_its_entry_and_keeps_every_other(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    database.user("carol")
    database.add("carol", make_package(tmp_path, "first", "1.0", depends=["python >=3.9"]))
    database.add("carol", make_package(tmp_path, "second", "2.0", fmt=".conda"))
    before, old = fetch(server.conda("carol"))
    database.add("carol", make_package(tmp_path, "third", "0.1", depends=["first"]))
    after, new = fetch(server.conda("carol"))
    assert set(records_of(new)) == {*records_of(old), "third-0.1-0.tar.bz2"}
    assert {name: records_of(new)[name] for name in records_of(old)} == records_of(old)
    assert records_of(new)["third-0.1-0.tar.bz2"]["depends"] == ["first"]
    assert_laid_out_as_from_scratch(before, old)
    assert_laid_out_as_from_scratch(after, new)


def test_a_removal_drops_exactly_its_entry(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    database.user("erin")
    for name in ("keep", "drop", "also-keep"):
        database.add("erin", make_package(tmp_path, name, "1.0"))
    fetch(server.conda("erin"))
    database.remove("erin", "noarch/drop-1.0-0.tar.bz2")
    body, repodata = fetch(server.conda("erin"))
    assert set(records_of(repodata)) == {"keep-1.0-0.tar.bz2", "also-keep-1.0-0.tar.bz2"}
    assert_laid_out_as_from_scratch(body, repodata)


def test_a_new_file_in_a_reused_row_id_gets_its_own_record(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    """SQLite gives a new row the id of the newest deleted one: the entry kept for that id
    belongs to the deleted file, and must not stand in for the new one."""
    database.user("frank")
    database.add("frank", make_package(tmp_path, "base", "1.0"))
    database.add("frank", make_package(tmp_path, "gone", "1.0", depends=["base"]))
    fetch(server.conda("frank"))  # the build whose entries the next one starts from
    database.remove("frank", "noarch/gone-1.0-0.tar.bz2")
    database.add("frank", make_package(tmp_path, "came", "2.0", depends=["base >=1"]))
    body, repodata = fetch(server.conda("frank"))
    assert set(records_of(repodata)) == {"base-1.0-0.tar.bz2", "came-2.0-0.tar.bz2"}
    assert records_of(repodata)["came-2.0-0.tar.bz2"]["depends"] == ["base >=1"]
    assert b"gone" not in body


def test_a_replaced_file_shows_its_new_record(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    database.user("grace")
    database.add("grace", make_package(tmp_path, "tool", "1.0", depends=["old-dependency"]))
    _, before = fetch(server.conda("grace"))
    rebuilt = make_package(tmp_path / "again", "tool", "1.0", depends=["new-dependency"])
    replace(database, "grace", rebuilt)
    body, after = fetch(server.conda("grace"))
    record = records_of(after)["tool-1.0-0.tar.bz2"]
    assert record["depends"] == ["new-dependency"]
    assert record["sha256"] != records_of(before)["tool-1.0-0.tar.bz2"]["sha256"]
    assert_laid_out_as_from_scratch(body, after)


def replace(database: ServerDatabase, owner: str, path: Path) -> None:
    """An upload with --force: the same file name, another archive."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(shutil.copy(path, scratch))  # storage moves what it is given
        with database.context.sessions() as session:
            ingest.add_file(
                session,
                database.context.storage,
                accounts.get_account(session, owner),
                copy,
                inspection.inspect_file(copy, DistributionType.CONDA),
                replace=True,
            )


def test_a_view_never_takes_a_hidden_package_from_another_views_build(
    server: RunningServer, database: ServerDatabase, tmp_path: Path
) -> None:
    token = database.user("heidi")
    database.add("heidi", make_package(tmp_path, "open", "1.0"))
    database.add("heidi", make_package(tmp_path, "secret", "1.0"), public=False)
    database.add("heidi", make_package(tmp_path, "later", "1.0"))
    # The owner's view of the new revision is built first; the public one may start from it.
    _, owners = fetch(server.conda("heidi", token=token))
    body, public = fetch(server.conda("heidi"))
    visible = {"open-1.0-0.tar.bz2", "later-1.0-0.tar.bz2"}
    assert set(records_of(owners)) == {*visible, "secret-1.0-0.tar.bz2"}
    assert set(records_of(public)) == visible
    assert b"secret" not in body
    database.set_public("heidi", "secret", True)
    _, shown = fetch(server.conda("heidi"))
    assert set(records_of(shown)) == set(records_of(owners))


def test_many_new_files_at_once_are_all_listed(
    server: RunningServer, database: ServerDatabase
) -> None:
    """More new files than one lookup of stored records takes (they are read in batches)."""
    database.user("ivan")
    with database.context.sessions() as session:
        owner = accounts.get_account(session, "ivan")
        for i in range(1200):
            files.record_file(session, owner, synthetic(f"many{i:04d}"), f"blobs/many{i}")
        session.commit()
    body, repodata = fetch(server.conda("ivan"))
    assert len(records_of(repodata)) == 1200
    assert records_of(repodata)["many0777-1.0-0.tar.bz2"]["name"] == "many0777"
    assert_laid_out_as_from_scratch(body, repodata)


def synthetic(name: str) -> files.Inspected:
    """What the server would learn from a tiny noarch package (no archive needed here)."""
    sha256 = hashlib.sha256(name.encode()).hexdigest()
    record = {"build": "0", "build_number": 0, "depends": [], "md5": sha256[:32]}
    record |= {"name": name, "sha256": sha256, "size": 1, "subdir": "noarch", "version": "1.0"}
    return files.Inspected(
        distribution_type=DistributionType.CONDA,
        name=name,
        version="1.0",
        basename=f"noarch/{name}-1.0-0.tar.bz2",
        filename=f"{name}-1.0-0.tar.bz2",
        subdir="noarch",
        size=1,
        md5=sha256[:32],
        sha256=sha256,
        record=record,
    )


def _worker_build(root: str, log: str) -> None:
    """One server worker (a process with its own cache object) asked for a new document."""

    def build() -> bytes:
        with open(log, "a") as out:  # appended to by several processes
            out.write("built\n")
        time.sleep(0.5)  # long enough for the other worker to ask meanwhile
        return b"{}"

    key = CacheKey(owner_id=1, label="main", index="noarch", stamp="7-700", view="all")
    ChannelCache(Path(root)).get(key, "repodata.json", build, "application/json")


def test_worker_processes_build_a_new_document_once(tmp_path: Path) -> None:
    """Right after an upload every worker is asked for the new repodata.json: one builds
    it, the others wait and serve what it wrote."""
    log = tmp_path / "builds.log"
    context = multiprocessing.get_context("fork")
    workers = [
        context.Process(target=_worker_build, args=(str(tmp_path / "cache"), str(log)))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    assert log.read_text() == "built\n"
