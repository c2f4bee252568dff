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
    meta = Path(env["OPHIS_ROOT_PREFIX"]) / "conda-meta"
    meta.mkdir(parents=True)
    (meta / "history").touch()
    (meta / "zlib-1.3.1-h4ab18f5_1.json").write_text(json.dumps(ZLIB_RECORD))
    return env


#: an installed record as conda and Ophis write it
ZLIB_RECORD = {
    "name": "zlib",
    "version": "1.3.1",
    "build": "h4ab18f5_1",
    "build_number": 1,
    "subdir": "linux-64",
    "fn": "zlib-1.3.1-h4ab18f5_1.conda",
    "url": "https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3.1-h4ab18f5_1.conda",
    "channel": "https://conda.anaconda.org/conda-forge/linux-64",
    "md5": "9653f1bf3766164d0e65fa723cabbc54",
    "sha256": "cfe0a2d5c1dbc1e2ff9cc32ef1bc8e9b7ea31e1b2ff6d4b8e3bbd1ee8ccdc0f7",
    "depends": ["__glibc >=2.17,<3.0.a0", "libzlib 1.3.1 h4ab18f5_1"],
    "license": "Zlib",
    "files": ["include/zlib.h"],
    "paths_data": {"paths": [{"_path": "include/zlib.h", "path_type": "hardlink"}]},
}


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


#: the commands that print what an environment or the installation holds
READING_COMMANDS = [
    ["list", "-n", "base"],
    ["list", "-n", "base", "--json"],
    ["list", "-n", "base", "--export"],
    ["info", "--json"],
    ["info"],
    ["env", "list", "--json"],
    ["env", "list"],
]


@pytest.mark.parametrize("argv", READING_COMMANDS, ids=" ".join)
def test_reading_commands_do_not_load_py_rattler(user: dict[str, str], argv: list[str]) -> None:
    """They read conda-meta's JSON as it is written; only the first ``info`` on a machine asks
    py-rattler for the CPU's microarchitecture (then it is remembered)."""
    imported_modules(user, ["info", "--json"])
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
