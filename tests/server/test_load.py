"""The default server (one worker) under many clients at once: every request answered,
none with a 5xx or a time-out; a held database stalls no one but who waits for it; and
``/healthz`` and ``/readyz`` say when the database cannot be reached in time.

Clients honour ``503`` + ``Retry-After`` as conda and pip do (:mod:`ophis.testing.load`);
the 503s they absorbed are printed with the figures (``pytest -s``)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from unittest import mock

import httpx
import pytest

from ophis.server.settings import SQLITE_NAME
from ophis.testing.load import PASSWORD, Channel, crowd, prepare_channel, uploads_during
from ophis.testing.server import RunningServer, run_server

HEALTH_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningServer, Channel]]:
    root = tmp_path_factory.mktemp("load")
    environment = {"OPHIS_HEALTH_TIMEOUT_SECONDS": str(HEALTH_TIMEOUT)}
    with mock.patch.dict(os.environ, environment), run_server(root / "data") as server:
        yield server, prepare_channel(server, root / "packages", uploads=4, spare=3)


@contextmanager
def database_held(server: RunningServer) -> Iterator[None]:
    """The test holds the database as a long transaction would: on SQLite the write lock
    (readers go on, writers wait); on PostgreSQL the tables a sign-in writes and the
    schema's version."""
    url = server.backend.database_url
    if url is None:
        connection = sqlite3.connect(server.data_dir / SQLITE_NAME, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        connection.execute("LOCK TABLE tokens, alembic_version IN ACCESS EXCLUSIVE MODE")
        yield
        connection.rollback()


def test_500_clients_mixing_repodata_listings_downloads_and_uploads_all_get_answers(
    loaded: tuple[RunningServer, Channel],
) -> None:
    server, channel = loaded
    with uploads_during(server, channel, count=3) as uploads:
        tally = crowd(server.url, 500, [channel.targets()], timeout=30)
    print(f"\n500 clients: {tally.summary()}\nuploads meanwhile: {uploads.summary()}")
    assert (tally.timeouts, tally.broken, uploads.timeouts) == (0, 0, 0)
    assert sum(tally.statuses.values()) == 500 * len(channel.targets())
    assert set(tally.statuses) <= {200, 302}  # 302: a download from S3 is a redirect
    assert (uploads.statuses, uploads.failures) == ({201: 3}, [])
    assert tally.seconds < 40


def test_80_api_requests_at_once_while_a_write_waits_on_the_database_all_answer(
    loaded: tuple[RunningServer, Channel],
) -> None:
    """The shape that deadlocked the thread pool against the connection pool: more
    requests than threads, each holding a connection between its thread hops, while a
    sign-in (a write) waits for the database."""
    server, channel = loaded
    with ThreadPoolExecutor(1) as pool:
        with database_held(server):
            sign_in = pool.submit(server.login, channel.owner, PASSWORD)
            time.sleep(0.3)  # the sign-in reaches the database and waits
            tally = crowd(server.url, 80, [[f"/api/user/{channel.owner}"]], timeout=15)
            print(f"\n80 x GET /api/user while a write waits: {tally.summary()}")
            assert tally.statuses == {200: 80}
            assert tally.seconds < 10
        assert sign_in.result(timeout=30), "the write goes through once the database is free"


def test_healthz_and_readyz_answer_503_when_the_database_is_held_past_their_timeout(
    loaded: tuple[RunningServer, Channel],
) -> None:
    server, _ = loaded
    healthz, readyz = f"{server.url}/healthz", f"{server.url}/readyz"
    assert httpx.get(healthz).json() == {"status": "ok", "database": "ok"}
    assert httpx.get(readyz).json() == {"status": "ready", "database": "ok"}
    time.sleep(1.1)  # a success is reused for a second
    with database_held(server):
        started = time.monotonic()
        health = httpx.get(healthz, timeout=10)
        seconds = time.monotonic() - started
        ready = httpx.get(readyz, timeout=10)
    assert health.status_code == 503, health.text
    assert seconds < HEALTH_TIMEOUT + 1
    assert health.json()["status"] == "database unreachable"
    assert "database" in health.json()["error"]
    assert health.headers["cache-control"] == "no-store"
    assert (ready.status_code, ready.json()["status"]) == (503, "database unreachable")
    assert httpx.get(healthz, timeout=10).status_code == 200


def test_readyz_is_not_an_account_name(loaded: tuple[RunningServer, Channel]) -> None:
    server, _ = loaded
    created = server.ophis("user", "create", "readyz", "--password", "a-password-for-health")
    assert created.returncode != 0
    assert httpx.get(f"{server.url}/readyz").headers["content-type"] == "application/json"
