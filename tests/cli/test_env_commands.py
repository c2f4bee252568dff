"""``ophis env list|export`` and ``ophis info``, as a user's script runs them."""

from __future__ import annotations

import json
from pathlib import Path

from ophis.manager.envfile import parse_environment_file
from ophis.testing.cli import ok_json, ophis


def test_env_list_export_and_info_see_a_named_environment(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-n", "ds", *channel, "dependent=1.0", "--json", "-y"))
    prefix = tmp_path / "root" / "envs" / "ds"

    listed = ok_json(ophis(home, "env", "list", "--json"))
    assert str(prefix) in listed["envs"]
    assert ok_json(ophis(home, "info", "--envs", "--json")) == listed
    table = ophis(home, "env", "list").stdout
    assert any(line.split()[:2] == ["ds", str(prefix)] for line in table.splitlines())

    exported = parse_environment_file(ophis(home, "env", "export", "-n", "ds").stdout)
    assert exported.name == "ds" and exported.prefix == str(prefix)
    assert exported.channels == ("test-recipes",) or exported.channels[0].endswith("test-recipes")
    assert {d.rsplit("=", 1)[0] for d in exported.dependencies} == {
        "dependency=1.0",
        "dependent=1.0",
    }
    no_builds = ok_json(ophis(home, "env", "export", "-n", "ds", "--no-builds", "--json"))
    assert sorted(no_builds["dependencies"]) == ["dependency=1.0", "dependent=1.0"]
    history = ok_json(ophis(home, "env", "export", "-n", "ds", "--from-history", "--json"))
    assert history["dependencies"] == ["dependent=1.0"]

    facts = ok_json(ophis(home, "info", "--json"))
    assert facts["root_prefix"] == str(tmp_path / "root")
    assert facts["envs_dirs"][0] == str(tmp_path / "root" / "envs")
    assert str(prefix) in facts["envs"]
    assert facts["pkgs_dirs"] == [str(tmp_path / "pkgs")]
    assert any(name == "__unix" for name, _, _ in facts["virtual_pkgs"])


def test_exporting_a_missing_environment_fails_with_condas_error(home: dict[str, str]) -> None:
    result = ophis(home, "env", "export", "-n", "nope", "--json")
    assert result.returncode != 0
    assert json.loads(result.stdout)["exception_name"] == "EnvironmentNameNotFound"
