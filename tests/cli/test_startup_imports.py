"""Local commands start fast: they never import the HTTP client, the server, pydantic or
the solver (each costs a tenth of a second or more on every call a script makes)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from ophis.cli.main import build_app
from ophis.cli.verbs import VERB_HELP
from ophis.testing.cli import isolated_user

#: modules (and their submodules) that no local command needs
FORBIDDEN = (
    "httpx",
    "pydantic",
    "ophis.server",
    "ophis.manager.solve",
    "ophis.manager.operations",
    "ophis.manager.transaction",
)

#: runs ``ophis ARGV`` in process and writes the imported modules' names to stderr's last
#: line when the interpreter exits (``main`` may end in ``sys.exit``)
_WRAPPER = """
import atexit, json, sys
atexit.register(lambda: sys.stderr.write("\\n" + json.dumps(sorted(sys.modules))))
from ophis.cli.main import main
sys.argv = ["ophis", *sys.argv[1:]]
main()
"""

LOCAL_COMMANDS = [
    ["--version"],
    ["--help"],
    ["install", "--help"],
    ["list", "-n", "base"],
    ["list", "-n", "base", "--json"],
    ["info", "--json"],
    ["env", "list", "--json"],
    ["config", "--show", "--json"],
    ["shell", "hook"],
    ["shell.posix", "activate", "base"],
    ["shell.posix", "deactivate"],
    ["run", "-n", "base", "true"],
]


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("startup")
    env = isolated_user(folder)
    (Path(env["OPHIS_ROOT_PREFIX"]) / "conda-meta").mkdir(parents=True)
    (Path(env["OPHIS_ROOT_PREFIX"]) / "conda-meta" / "history").touch()
    return env


def imported_modules(env: dict[str, str], argv: list[str]) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(json.loads(done.stderr.rsplit("\n", 1)[-1]))


@pytest.mark.parametrize("argv", LOCAL_COMMANDS, ids=" ".join)
def test_local_command_imports_nothing_heavy(user: dict[str, str], argv: list[str]) -> None:
    modules = imported_modules(user, argv)
    heavy = sorted(
        name for name in modules if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    )
    assert not heavy, f"ophis {' '.join(argv)} imports {heavy[:10]}"


#: the shell's calls (each prompt or activation pays for them) and the configuration
SHELL_COMMANDS = [
    ["shell", "hook"],
    ["shell.posix", "activate", "base"],
    ["shell.posix", "deactivate"],
    ["run", "-n", "base", "true"],
    ["config", "--show", "--json"],
]


@pytest.mark.parametrize("argv", SHELL_COMMANDS, ids=" ".join)
def test_shell_commands_do_not_load_py_rattler(user: dict[str, str], argv: list[str]) -> None:
    assert "rattler" not in imported_modules(user, argv)


def test_one_verbs_help_imports_no_other_verb(user: dict[str, str]) -> None:
    modules = imported_modules(user, ["install", "--help"])
    commands = sorted(name for name in modules if name.startswith("ophis.cli.commands."))
    assert commands == ["ophis.cli.commands.change"]


def test_top_level_help_imports_no_command_module(user: dict[str, str]) -> None:
    modules = imported_modules(user, ["--help"])
    assert not [name for name in modules if name.startswith("ophis.cli.commands.")]


def test_the_verb_table_matches_the_commands() -> None:
    """``ophis --help`` lists the verbs from a table; it must say what the commands say."""
    group = typer.main.get_command(build_app())
    registered = {
        name: inspect.cleandoc(command.help or "").split("\n\n")[0].strip()
        for name, command in group.commands.items()
        if not command.hidden
    }
    assert registered == VERB_HELP
