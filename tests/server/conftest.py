"""A real server for the server tests, started once per test module (a fresh database for
each module keeps modules independent), an isolated anaconda-client configuration, and the
server's database opened from the test process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.backends import POSTGRES_ENV, session_services
from ophis.testing.postgres import running_postgres
from ophis.testing.server import RunningServer, run_server
from ophis.testing.server_db import ServerDatabase


@pytest.fixture(scope="session", autouse=True)
def server_backend() -> Iterator[str]:
    """The back end every test server runs on: SQLite and local files, or, with
    ``OPHIS_TEST_BACKEND=postgresql-s3``, PostgreSQL and S3 started for the session."""
    with session_services() as name:
        yield name


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """The session's PostgreSQL cluster, or one of this module's own."""
    if os.environ.get(POSTGRES_ENV):
        yield os.environ[POSTGRES_ENV]
        return
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


@pytest.fixture
def anaconda(server: RunningServer, tmp_path: Path) -> AnacondaClient:
    """``anaconda`` with its own config and token directory, pointed at ``server``."""
    return AnacondaClient(server, tmp_path / "anaconda-config")


@pytest.fixture(scope="module")
def database(server: RunningServer) -> Iterator[ServerDatabase]:
    """The module's test server's database, opened from the test process."""
    opened = ServerDatabase(server)
    yield opened
    opened.close()
