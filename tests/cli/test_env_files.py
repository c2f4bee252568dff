"""``ophis env create|update|remove`` from environment.yml files, as a new user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.manager.env_vars import read_env_vars
from ophis.testing.cli import ok_json, ophis
from ophis.testing.packages import make_package

#: a stand-in for the environment's python: records how pip was called, fails on demand
FAKE_PYTHON = b"""#!/bin/sh
printf '%s\\n' "$PWD" "$@" > "$(dirname "$0")/../pip-call.txt"
cat "$6" >> "$(dirname "$0")/../pip-call.txt"
case "$(cat "$6")" in *broken*) echo 'ERROR: no such package' >&2; exit 1;; esac
"""


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("channel") / "envchannel"
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "python", "3.11.0", files={"bin/python": FAKE_PYTHON})
    make_package(noarch, "pip", "24.0", depends=["python"])
    make_package(noarch, "numpy", "1.26.0", depends=["python"])
    make_package(noarch, "tool", "1.0")
    index_channel(root)
    return root


def write_env_file(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "environment.yml"
    path.write_text(body)
    return path


def test_env_create_installs_packages_pip_requirements_and_variables(
    channel: Path, home: dict[str, str], tmp_path: Path
) -> None:
    project = tmp_path / "project"
    env_file = write_env_file(
        project,
        f"name: ds\nchannels:\n  - {channel.as_uri()}\ndependencies:\n  - numpy\n  - pip\n"
        "  - pip:\n      - rich==13.7\n      - -e .\nvariables:\n  MY_VAR: hello\n",
    )
    result = ophis(home, "env", "create", "-f", str(env_file), "--json")
    created = ok_json(result)
    assert sorted(a["name"] for a in created["actions"]["LINK"]) == ["numpy", "pip", "python"]
    prefix = tmp_path / "root" / "envs" / "ds"
    call = (prefix / "pip-call.txt").read_text().splitlines()
    assert call[0] == str(project)  # run from the file's folder: "-e ." is that project
    assert call[1:6] == ["-m", "pip", "install", "-U", "-r"]
    assert call[7:] == ["rich==13.7", "-e ."]
    assert read_env_vars(prefix) == {"MY_VAR": "hello"}

    exists = ophis(home, "env", "create", "-f", str(env_file), "--json")
    assert exists.returncode != 0 and "already exists" in json.loads(exists.stdout)["message"]


def test_a_pip_section_without_pip_fails_before_anything_changes(
    channel: Path, home: dict[str, str], tmp_path: Path
) -> None:
    env_file = write_env_file(
        tmp_path,
        f"name: nopip\nchannels: [{channel.as_uri()}]\ndependencies:\n  - tool\n"
        "  - pip:\n      - rich\n",
    )
    result = ophis(home, "env", "create", "-f", str(env_file))
    assert result.returncode != 0
    assert "pip would not be installed" in result.stderr
    assert not (tmp_path / "root" / "envs" / "nopip").exists()


def test_a_failing_pip_is_reported_and_keeps_the_conda_packages(
    channel: Path, home: dict[str, str], tmp_path: Path
) -> None:
    env_file = write_env_file(
        tmp_path,
        f"name: broken\nchannels: [{channel.as_uri()}]\ndependencies:\n  - pip\n"
        "  - pip:\n      - broken-package\n",
    )
    result = ophis(home, "env", "create", "-f", str(env_file), "--json")
    assert result.returncode != 0
    assert "pip failed" in result.stdout and "no such package" in result.stdout
    assert (tmp_path / "root" / "envs" / "broken" / "conda-meta").is_dir()


def test_env_update_with_prune_and_env_remove(
    channel: Path, home: dict[str, str], tmp_path: Path
) -> None:
    first = write_env_file(
        tmp_path / "a", f"name: up\nchannels: [{channel.as_uri()}]\ndependencies: [numpy, tool]\n"
    )
    ok_json(ophis(home, "env", "create", "-f", str(first), "--json"))
    second = write_env_file(
        tmp_path / "b",
        f"name: up\nchannels: [{channel.as_uri()}]\ndependencies: [tool]\n"
        "variables:\n  LEVEL: '2'\n",
    )
    updated = ophis(home, "env", "update", "-f", str(second), "--prune")
    assert updated.returncode == 0, updated.stderr
    listed = ok_json(ophis(home, "list", "-n", "up", "--json"))
    assert [p["name"] for p in listed] == ["tool"]
    prefix = tmp_path / "root" / "envs" / "up"
    assert read_env_vars(prefix) == {"LEVEL": "2"}

    removed = ophis(home, "env", "remove", "-n", "up", "-y")
    assert removed.returncode == 0, removed.stderr
    assert not prefix.exists()
    assert str(prefix) not in ok_json(ophis(home, "env", "list", "--json"))["envs"]
    again = ophis(home, "env", "remove", "-n", "up", "-y", "--json")
    assert json.loads(again.stdout)["exception_name"] == "EnvironmentNameNotFound"
