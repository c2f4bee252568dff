"""The real ``anaconda`` command (anaconda-client) for tests, configured for one server in a
folder of its own."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

from ophis.testing.server import RunningServer


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


def as_user(client: AnacondaClient, token: str | None) -> AnacondaClient:
    """The same configured client, acting with another token (or none)."""
    other = copy.copy(client)
    other.env = {k: v for k, v in client.env.items() if k != "BINSTAR_API_TOKEN"}
    if token:
        other.env["BINSTAR_API_TOKEN"] = token
    return other
