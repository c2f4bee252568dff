"""Running the ``ophis`` command as a user's script does, for tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def isolated_user(folder: Path) -> dict[str, str]:
    """An environment for ``ophis`` with its own HOME, .condarc, root prefix and package
    cache under ``folder``, and none of the caller's conda or Ophis settings."""
    (folder / "home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONDA", "OPHIS", "MAMBA"))}
    env.update(
        HOME=str(folder / "home"),
        CONDARC=str(folder / "home" / ".condarc"),
        OPHIS_ROOT_PREFIX=str(folder / "root"),
        CONDA_PKGS_DIRS=str(folder / "pkgs"),
        XDG_CACHE_HOME=str(folder / "home" / ".cache"),  # conda's notices cache, for one
    )
    return env


def ophis(
    env: dict[str, str], *args: str, answers: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``ophis ARGS``; ``answers`` is what the user types at its prompts."""
    return subprocess.run(
        [sys.executable, "-m", "ophis", *args],
        capture_output=True,
        text=True,
        env=env,
        input=answers,
        timeout=300,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)
