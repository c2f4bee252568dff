"""Every page answers as fast, within an order of magnitude, with 10,000 packages in the
database as with 10: none loads a whole table. The rows are seeded straight into the
database (no archives: these pages read no repodata records)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from ophis.server.db.models import Account, File, FileLabel, Label, Package, Release
from ophis.testing.server import run_server
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient

SMALL, LARGE = 10, 10_000
#: ids far above what the server made for itself (its administrator)
FIRST_ID = 1_000_000
#: the floor of the bound: a page that loads all 10,000 packages takes about 0.5 s
FLOOR = 0.2
PAGES = {
    "home": "/",
    "search": "/search?q=pkg",
    "owner": "/bulk",
    "package": "/bulk/pkg-{middle:05d}",
    "label": "/bulk/labels/main",
    "admin": "/settings/admin",
}


def _rows(count: int) -> dict[type[Any], list[dict[str, Any]]]:
    """``bulk`` owning ``count`` packages of one release and one file each, all on
    ``main``; and ``count`` more users, for the administration page's list."""
    now = datetime.now(UTC)
    ids = range(FIRST_ID, FIRST_ID + count)
    owner, label = FIRST_ID - 1, FIRST_ID
    return {
        Account: [{"id": owner, "login": "bulk", "login_key": "bulk"}]
        + [{"id": n, "login": f"user-{n}", "login_key": f"user-{n}"} for n in ids],
        Label: [{"id": label, "owner_id": owner, "name": "main"}],
        Package: [
            {"id": n, "owner_id": owner, "name": f"pkg-{n - FIRST_ID:05d}", "summary": "seeded"}
            for n in ids
        ],
        Release: [{"id": n, "package_id": n, "version": "1.0"} for n in ids],
        File: [
            {
                "id": n,
                "release_id": n,
                "owner_id": owner,
                "basename": f"noarch/pkg-{n - FIRST_ID:05d}-1.0-0.conda",
                "distribution_type": "conda",
                "subdir": "noarch",
                "filename": f"pkg-{n - FIRST_ID:05d}-1.0-0.conda",
                "size": 1000,
                "md5": "0" * 32,
                "sha256": f"{n:064d}",
                "storage_key": f"seeded/{n}",
                "upload_time": now,
            }
            for n in ids
        ],
        FileLabel: [{"file_id": n, "label_id": label} for n in ids],
    }


def seed(database: ServerDatabase, count: int) -> None:
    """One transaction of bulk inserts, parents first."""
    with database.context.sessions() as session:
        for model, rows in _rows(count).items():
            session.execute(insert(model), rows)
        session.commit()
        assert session.scalar(select(Package.id).where(Package.name == "pkg-00000"))


def fastest(client: WebClient, path: str, tries: int = 5) -> float:
    """The quickest of a few answers (after one to warm up), in seconds."""
    assert client.get(path).status_code == 200, path
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, path
    return min(times)


@pytest.fixture(scope="module")
def timings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, dict[str, float]]]:
    """How long each page takes with ``SMALL`` and with ``LARGE`` packages."""
    result: dict[int, dict[str, float]] = {}
    with ExitStack() as stack:
        for count in (SMALL, LARGE):
            server = stack.enter_context(run_server(tmp_path_factory.mktemp("scale") / "data"))
            database = ServerDatabase(server)
            stack.callback(database.close)
            start = time.perf_counter()
            seed(database, count)
            assert time.perf_counter() - start < 20, "seeding is too slow"
            client = WebClient(server)
            stack.callback(client.close)
            assert client.sign_in(server.admin, server.password).status_code == 303
            result[count] = {
                name: fastest(client, path.format(middle=count // 2))
                for name, path in PAGES.items()
            }
        yield result


@pytest.mark.parametrize("page", PAGES)
def test_a_page_is_as_fast_with_10000_packages_as_with_10(
    page: str, timings: dict[int, dict[str, float]]
) -> None:
    small, large = timings[SMALL][page], timings[LARGE][page]
    assert large < max(10 * small, FLOOR), (
        f"{page}: {large:.3f}s with {LARGE}, {small:.3f}s with {SMALL}"
    )
