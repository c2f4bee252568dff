"""A real server for the server tests, started once per test module (a fresh database for
each module keeps modules independent), and an isolated anaconda-client configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ophis.testing.backends import POSTGRES_ENV, session_services
from ophis.testing.postgres import running_postgres
from ophis.testing.server import RunningServer, run_server


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


class ClientRun(subprocess.CompletedProcess[str]):
    @property
    def output(self) -> str:
        """The client logs most of what it says on stderr."""
        return self.stdout + self.stderr


class AnacondaClient:
    """The real ``anaconda`` command (anaconda-client), configured for one server."""

    def __init__(self, server: RunningServer, config_dir: Path) -> None:
        self.env = dict(
            os.environ,
            BINSTAR_CONFIG_DIR=str(config_dir),
            ANACONDA_CLIENT_FORCE_STANDALONE="1",
            ANACONDA_CLIENT_LEGACY_INTERACTIVE_LOGIN="1",
            ANACONDA_TELEMETRY_ENABLED="false",
            OTEL_SDK_DISABLED="true",
            HOME=str(config_dir),
        )
        self.env.pop("BINSTAR_API_TOKEN", None)
        self.env.pop("ANACONDA_API_TOKEN", None)
        self("config", "--set", "url", server.api, check=True)

    def __call__(self, *args: str, check: bool = False, stdin: str | None = None) -> ClientRun:
        executable = Path(sys.executable).with_name("anaconda")
        result = subprocess.run(
            [str(executable), *args],
            capture_output=True,
            text=True,
            env=self.env,
            input=stdin,
            check=False,
            timeout=120,
        )
        run = ClientRun(result.args, result.returncode, result.stdout, result.stderr)
        if check and run.returncode != 0:
            raise AssertionError(
                f"anaconda {' '.join(args)} failed ({run.returncode}):\n{run.output}"
            )
        return run


@pytest.fixture
def anaconda(server: RunningServer, tmp_path: Path) -> AnacondaClient:
    """``anaconda`` with its own config and token directory, pointed at ``server``."""
    return AnacondaClient(server, tmp_path / "anaconda-config")
