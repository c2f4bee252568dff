"""A real Ophis server for tests: ``ophis server start`` in a subprocess on 127.0.0.1, on
the database and storage :mod:`ophis.testing.backends` picks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from ophis.server.settings import ServerSettings
from ophis.testing.backends import Backend, fresh_backend
from ophis.testing.cli import offline_user
from ophis.testing.http import free_port

ADMIN = "admin"
ADMIN_PASSWORD = "admin-password-for-tests"
#: the password of the accounts tests make
PASSWORD = "a-password-for-tests"


@dataclass(frozen=True)
class RunningServer:
    url: str
    data_dir: Path
    admin: str
    password: str
    process: subprocess.Popen[bytes]
    backend: Backend = field(default_factory=Backend)
    #: where deployments and notebooks are served (an origin apart from ``url``)
    user_content_url: str = ""

    @property
    def settings(self) -> ServerSettings:
        """What the server runs on, for opening its database from the test process."""
        return self.backend.settings(self.data_dir)

    @property
    def api(self) -> str:
        return f"{self.url}/api"

    def conda(self, owner: str, label: str | None = None, token: str | None = None) -> str:
        base = f"{self.url}/conda" + (f"/t/{token}" if token else "")
        return f"{base}/{owner}" + (f"/label/{label}" if label else "")

    def login(self, user: str | None = None, password: str | None = None, **body: object) -> str:
        """A new token for ``user`` (default: the administrator) by password."""
        response = httpx.post(
            f"{self.api}/authentications",
            auth=(user or self.admin, password or self.password),
            json={"note": f"test-{time.monotonic_ns()}", **body},
        )
        response.raise_for_status()
        return response.json()["token"]

    def ophis(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``ophis server ARGS --data-dir <this server's> [--database <its>]`` (user and org
        administration)."""
        database = ["--database", self.backend.database_url] if self.backend.database_url else []
        return subprocess.run(
            [
                *(sys.executable, "-m", "ophis", "server", *args),
                *("--data-dir", str(self.data_dir), *database),
            ],
            capture_output=True,
            text=True,
            check=False,
        )


@contextmanager
def run_server(
    data_dir: Path,
    *extra: str,
    backend: Backend | None = None,
    timeout: float = 30.0,
    wrapper: tuple[str, ...] = (),
    environment: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """A server on ``backend`` (default: a fresh one, see :func:`fresh_backend`), its
    command run by ``wrapper`` when given (``setpriv ...``: as another OS user), with
    ``environment`` added to this process's."""
    backend = backend or fresh_backend()
    port, user_content_port = free_port(), free_port()
    env = dict(os.environ, OPHIS_ADMIN_USER=ADMIN, OPHIS_ADMIN_PASSWORD=ADMIN_PASSWORD)
    env.update(environment or {})
    log = (data_dir.parent / f"{data_dir.name}.log").open("wb")
    process = subprocess.Popen(
        [
            *wrapper,
            sys.executable,
            "-m",
            "ophis",
            "server",
            "start",
            "--port",
            str(port),
            "--user-content-port",
            str(user_content_port),
            "--data-dir",
            str(data_dir),
            "--json",
            "--log-level",
            "warning",
            *backend.server_args(),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    server = RunningServer(
        url,
        data_dir,
        ADMIN,
        ADMIN_PASSWORD,
        process,
        backend,
        user_content_url=f"http://127.0.0.1:{user_content_port}",
    )
    try:
        _wait_healthy(server, timeout)
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(server: RunningServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = (server.data_dir.parent / f"{server.data_dir.name}.log").read_text()
            raise RuntimeError(f"the server exited ({server.process.returncode}):\n{log}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server at {server.url} did not answer /healthz in {timeout} s")


def announcement(server: RunningServer) -> dict[str, object]:
    """What ``ophis server start --json`` printed first."""
    assert server.process.stdout is not None
    return read_announcement(server.process.stdout)


def read_announcement(stream: IO[bytes]) -> dict[str, object]:
    """The JSON document ``ophis server start --json`` prints before serving."""
    lines = []
    for line in stream:
        lines.append(line)
        if line.startswith(b"}"):
            break
    return json.loads(b"".join(lines) or b"{}")


def admin_user(server: RunningServer, folder: Path) -> dict[str, str]:
    """An :func:`offline_user` holding a token of ``server``'s administrator, with ``server``
    as the default one (as ``ophis login`` leaves it)."""
    env = offline_user(folder)
    env["ANACONDA_API_TOKEN"] = server.login()
    env["OPHIS_SERVER"] = server.api
    return env
