"""Lock files: solve for two platforms, write the pixi format, read the same records back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ophis.core.channel import parse_channel
from ophis.manager.config import load_config
from ophis.manager.lockfile import (
    LockFileError,
    LockRequest,
    lock_environment,
    locked_records,
    write_lock,
)
from ophis.manager.operations import fetch_repodata


def test_a_lock_for_two_platforms_reads_back_the_solved_records(
    recipes: Path, tmp_path: Path
) -> None:
    env = {
        "HOME": str(tmp_path),
        "CONDA_PKGS_DIRS": str(tmp_path / "pkgs"),
        "PATH": os.environ["PATH"],
    }
    config = load_config(env=env, search_path=())
    channel = parse_channel(recipes.as_uri(), config.channel_context())
    request = LockRequest(
        specs=("dependent=2.0",), channels=(channel,), platforms=("linux-64", "osx-arm64")
    )
    lock = lock_environment(request, config, env, fetch_repodata)
    path = tmp_path / "ophis.lock"
    write_lock(lock, path)
    assert path.read_text().startswith("version:")
    for platform in ("linux-64", "osx-arm64"):
        records = locked_records(path, platform)
        assert sorted(f"{r.name.normalized}-{r.version}" for r in records) == [
            "dependency-2.0",
            "dependent-2.0",
        ]
        assert all(str(r.url).startswith(recipes.as_uri()) and r.sha256 for r in records)
    with pytest.raises(LockFileError, match="holds no packages for win-64"):
        locked_records(path, "win-64")


def test_unreadable_and_missing_lock_files_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LockFileError, match="does not exist"):
        locked_records(tmp_path / "none.lock", "linux-64")
    bad = tmp_path / "bad.lock"
    bad.write_text("version: 6\nenvironments: [\n")
    with pytest.raises(LockFileError, match="not a readable lock file"):
        locked_records(bad, "linux-64")
