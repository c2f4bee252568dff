"""``ophis compare`` and ``ophis rename``, conda's verbs, as a user's script runs them."""

from __future__ import annotations

import json
from pathlib import Path

from ophis.testing.cli import ok_json, ophis


def test_compare_checks_an_environment_against_a_file(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-n", "cmp", *channel, "dependent=1.0", "--json", "-y"))
    good = tmp_path / "good.yml"
    good.write_text("name: cmp\ndependencies:\n  - dependent=1.0\n  - dependency\n")
    same = ophis(home, "compare", "-n", "cmp", str(good), "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout) == [
        "Success. All the packages in the specification file are present in the environment "
        "with matching version and build string."
    ]

    bad = tmp_path / "bad.yml"
    bad.write_text("dependencies:\n  - dependent>=2\n  - nothere\n")
    differs = ophis(home, "compare", "-n", "cmp", str(bad))
    assert differs.returncode == 1
    lines = differs.stdout.splitlines()
    assert lines[0].startswith("dependent found but mismatch. Specification pkg: dependent>=2,")
    assert lines[1] == "nothere not found"


def test_rename_moves_an_environment_and_refuses_what_conda_refuses(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = ["--override-channels", "-c", recipes.as_uri()]
    envs = tmp_path / "root" / "envs"
    ok_json(ophis(home, "create", "-n", "old", *channel, "dependent=1.0", "--json", "-y"))
    ok_json(ophis(home, "create", "-n", "taken", *channel, "dependency", "--json", "-y"))

    taken = ophis(home, "rename", "-n", "old", "taken", "--json")
    assert json.loads(taken.stdout)["exception_name"] == "CondaEnvException"
    assert "already exists. Override with --yes." in json.loads(taken.stdout)["message"]
    active = ophis({**home, "CONDA_PREFIX": str(envs / "old")}, "rename", "-n", "old", "new")
    assert active.returncode == 1 and "Cannot rename the active environment" in active.stderr
    dry = ok_json(ophis(home, "rename", "-n", "old", "new", "--dry-run", "--json"))
    assert dry["dry_run"] is True and not (envs / "new").exists()

    ok_json(ophis(home, "rename", "-n", "old", "new", "--json"))
    assert not (envs / "old").exists()
    names = [p["name"] for p in ok_json(ophis(home, "list", "-n", "new", "--json"))]
    assert names == ["dependency", "dependent"]
    ok_json(ophis(home, "env", "rename", "-n", "new", "taken", "--yes", "--json"))
    assert not (envs / "new").exists()
    assert [p["name"] for p in ok_json(ophis(home, "list", "-n", "taken", "--json"))] == names
