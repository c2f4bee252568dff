"""conda's option spellings that every command takes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ophis.testing.cli import ok_json, ophis


@pytest.mark.parametrize("verb", [(), ("create",), ("env", "list"), ("config",), ("list",)])
def test_h_is_help_everywhere(home: dict[str, str], verb: tuple[str, ...]) -> None:
    result = ophis(home, *verb, "-h")
    assert result.returncode == 0, result.stderr
    assert f"ophis {' '.join(verb)} [OPTIONS]".replace("  ", " ") in " ".join(result.stdout.split())


def test_install_needs_packages_or_a_revision(home: dict[str, str]) -> None:
    for args in ((), ("pkg", "--revision", "1")):
        result = ophis(home, "install", "-n", "any", *args, "--json")
        assert result.returncode == 1
        error = json.loads(result.stdout)
        assert error["exception_name"] == "CondaValueError"
        assert "must supply one of command line packages, --file or --revision" in error["message"]


def test_create_over_an_existing_environment_asks_first(
    recipes: Path, home: dict[str, str], tmp_path: Path
) -> None:
    channel = ["--override-channels", "-c", recipes.as_uri()]
    ok_json(ophis(home, "create", "-n", "there", *channel, "dependency=1.0", "--json", "-y"))
    dry = ophis(home, "create", "-n", "there", *channel, "dependency", "--dry-run", "--json")
    assert json.loads(dry.stdout)["message"] == (
        "Cannot `create --dry-run` with an existing conda environment"
    )
    declined = ophis(home, "create", "-n", "there", *channel, "dependency", answers="\n")
    assert declined.returncode == 0  # the default answer is no: nothing changes
    assert "A conda environment already exists at" in declined.stdout
    assert "CondaSystemExit: Exiting." in declined.stderr
    listed = ok_json(ophis(home, "list", "-n", "there", "--json"))
    assert [(p["name"], p["version"]) for p in listed] == [("dependency", "1.0")]
    replaced = ok_json(ophis(home, "create", "-n", "there", *channel, "dependency", "-y", "--json"))
    assert replaced["success"] is True
