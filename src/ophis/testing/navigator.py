"""Ophis Navigator for tests, started as a user starts it (``ophis navigator --no-browser
--json``) for an isolated user whose tokens stay in files under its HOME."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ophis.testing.cli import isolated_user


@dataclass
class Navigator:
    url: str  #: with its one-time token
    root: str  #: http://127.0.0.1:PORT
    env: dict[str, str]
    home: Path
    envs_dir: Path
    process: subprocess.Popen[str]


@contextmanager
def running_navigator(folder: Path) -> Iterator[Navigator]:
    """A navigator of a new user under ``folder``; its log is ``folder/navigator.log``."""
    env = {
        k: v
        for k, v in isolated_user(folder).items()
        if not k.startswith(("BINSTAR", "ANACONDA", "PYTHON_KEYRING", "XDG"))
    }
    home = Path(env["HOME"])
    # tokens in files under this HOME only, never in the machine's keyring
    env.update(
        BINSTAR_CONFIG_DIR=str(home / "binstar"),
        OPHIS_CLIENT_CONFIG_DIR=str(home / "ophis"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    log = (folder / "navigator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ophis", "navigator", "--no-browser", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            pytest.fail(f"ophis navigator did not start: {(folder / 'navigator.log').read_text()}")
        url = json.loads(line)["url"]
        yield Navigator(
            url=url,
            root=url.split("/?", 1)[0],
            env=env,
            home=home,
            envs_dir=Path(env["OPHIS_ROOT_PREFIX"]) / "envs",
            process=process,
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
