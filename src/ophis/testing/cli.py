"""Running the ``ophis`` command as a user's script does, for tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


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


def offline_user(folder: Path) -> dict[str, str]:
    """:func:`isolated_user` with every proxy pointing at a closed local port: anything that
    tried to reach a network other than 127.0.0.1 (conda-forge, say) fails instead."""
    env = isolated_user(folder)
    closed = "http://127.0.0.1:9"
    env.update(
        http_proxy=closed,
        https_proxy=closed,
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        all_proxy=closed,
        ALL_PROXY=closed,
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
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


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    """The JSON a command printed, once it succeeded."""
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def ophis_create(env: dict[str, str], prefix: Path, channel: str, *args: str) -> tuple[int, dict]:
    """``ophis create --json -y -p PREFIX -c CHANNEL --override-channels ARGS``: its exit
    code and its JSON report."""
    result = ophis(
        env,
        "create",
        "-p",
        str(prefix),
        "-c",
        channel,
        "--override-channels",
        "--json",
        "-y",
        *args,
    )
    return result.returncode, json.loads(result.stdout)


def linked(report: dict) -> dict[str, str]:
    """``{name: version}`` of what a JSON transaction report links."""
    return {a["name"]: a["version"] for a in report["actions"]["LINK"]}
