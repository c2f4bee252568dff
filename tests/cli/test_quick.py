"""The quick path (ophis.cli.quick) answers the shell's and scripts' calls without Typer, and
answers them exactly as Typer does: the same output, errors and exit codes; anything it
does not fully understand goes to Typer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from ophis.cli.main import build_app
from ophis.cli.quick import ROUTES, SHELL_NAMES, VALUE, VALUES, Route, parse, route_for
from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user, ophis
from ophis.testing.packages import make_package

#: runs ``ophis ARGV`` through the Typer app only, as every call did before the quick path,
#: ending as ``main`` ends (a solve's py-rattler threads can crash interpreter teardown)
_TYPER_ONLY = """
import sys
from ophis.cli.main import build_app, conda_shell_spelling, leave_without_native_teardown
argv = conda_shell_spelling(sys.argv[1:])
try:
    build_app(argv)(argv, prog_name="ophis")
except SystemExit as done:
    leave_without_native_teardown(done.code)
    raise
"""

#: the same, through ``main`` (the quick path first)
_MAIN = """
import sys
from ophis.cli.main import main
sys.argv = ["ophis", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("quick")
    env = isolated_user(folder)
    noarch = folder / "channel" / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "tool", "1.0", depends=["lib >=2"], files={"share/tool.txt": b"x"})
    make_package(noarch, "lib", "2.1", files={"share/lib.txt": b"y"})
    index_channel(folder / "channel")
    channel = (folder / "channel").as_uri()
    created = ophis(env, "create", "-n", "demo", "--override-channels", "-c", channel, "tool", "-y")
    assert created.returncode == 0, created.stdout + created.stderr
    return {**env, "QUICK_TEST_CHANNEL": channel}


def _run(env: dict[str, str], script: str, argv: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


SAME_AS_TYPER = [
    ["--version"],
    ["shell", "hook", "--shell", "bash"],
    ["shell", "hook", "-s", "fish"],
    ["shell.posix", "activate", "demo"],
    ["shell.bash", "activate", "--stack", "demo"],
    ["shell.zsh", "deactivate"],
    ["shell.posix", "reactivate"],
    ["shell.posix", "activate", "no-such-env"],
    ["list", "-n", "demo"],
    ["list", "-n", "demo", "--json"],
    ["list", "lib", "-n", "demo", "--explicit", "--md5"],
    ["list", "-n", "demo", "--export"],
    ["list", "--name=demo", "--canonical", "--reverse"],
    ["list", "-n", "demo", "--fields", "name,version,depends,size", "--size"],
    ["list", "-n", "demo", "--fields", "name,timestamp"],
    ["list", "nomatch", "-n", "demo"],
    ["list", "-n", "no-such-env", "--json"],
    ["info", "--json"],
    ["info"],
    ["info", "--base", "--json"],
    ["info", "--envs"],
    ["env", "list", "--json"],
    ["env", "list"],
    ["config", "--show", "--json"],
    ["config", "--show", "channels", "auto_activate_base"],
    ["config", "--describe", "channels"],
    ["run", "-n", "demo", "sh", "-c", "echo $CONDA_PREFIX; exit 3"],
    ["run", "-n", "demo", "--cwd", "/", "pwd"],
    ["run", "-n", "no-such-env", "true"],
    ["create", "-n", "other", "--dry-run", "--json", "tool", "-c", "CHANNEL", "-O"],
    ["create", "-n", "other", "--dry-run", "tool", "--channel=CHANNEL", "--override-channels"],
    ["create", "-n", "other", "-d", "--json", "-c", "CHANNEL", "-O", "tool", "--solver", "bogus"],
    ["create", "-n", "demo", "--dry-run", "--json", "-c", "CHANNEL", "-O", "tool"],
    ["install", "-n", "demo", "-d", "--json", "-c", "CHANNEL", "-O", "lib", "--freeze-installed"],
    ["install", "-n", "demo", "--dry-run", "--json"],
    ["update", "-n", "demo", "--dry-run", "--json", "-c", "CHANNEL", "-O", "--all"],
    ["update", "-n", "demo", "--dry-run", "--json", "--update-specs", "--update-deps", "lib"],
    ["update", "-n", "demo", "--json"],
    ["remove", "-n", "demo", "--dry-run", "--json", "tool"],
    ["uninstall", "-n", "demo", "--dry-run", "--all"],
    ["remove", "-n", "no-such-env", "--json", "tool"],
]


def _with_channel(env: dict[str, str], argv: list[str]) -> list[str]:
    channel = env["QUICK_TEST_CHANNEL"]
    return [arg.replace("CHANNEL", channel) for arg in argv]


@pytest.mark.parametrize("argv", SAME_AS_TYPER, ids=" ".join)
def test_the_quick_path_answers_as_typer_does(user: dict[str, str], argv: list[str]) -> None:
    argv = _with_channel(user, argv)
    quick = _run(user, _MAIN, argv)
    assert quick == _run(user, _TYPER_ONLY, argv)


QUICK = [
    ["--version"],
    ["shell", "hook"],
    ["shell.posix", "activate", "demo"],
    ["shell.posix", "deactivate"],
    ["run", "-n", "demo", "true"],
    ["list", "-n", "demo"],
    ["list", "-n", "demo", "--json"],
    ["info", "--json"],
    ["env", "list", "--json"],
    ["config", "--show", "--json"],
    ["create", "-n", "other", "--dry-run", "--json", "-c", "CHANNEL", "-O", "tool"],
    ["install", "-n", "demo", "--dry-run", "--json", "-c", "CHANNEL", "-O", "lib"],
    ["update", "-n", "demo", "--dry-run", "--json", "-c", "CHANNEL", "-O", "--all"],
    ["remove", "-n", "demo", "--dry-run", "--json", "tool"],
]

_IMPORTS_TYPER = """
import atexit, sys
atexit.register(lambda: sys.stderr.write("\\ntyper imported: %s" % ("typer" in sys.modules)))
from ophis.cli.main import main
sys.argv = ["ophis", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("argv", QUICK, ids=" ".join)
def test_the_hot_commands_never_import_typer(user: dict[str, str], argv: list[str]) -> None:
    code, out, err = _run(user, _IMPORTS_TYPER, _with_channel(user, argv))
    assert code == 0, out + err
    assert err.endswith("typer imported: False"), err


HANDED_TO_TYPER = [
    ["list", "--bogus"],
    ["list", "-h"],
    ["list", "--help"],
    ["list", "-n"],
    ["list", "-n", "--json"],
    ["list", "-n", "a", "-n", "b"],
    ["list", "--json=yes"],
    ["list", "-nbase"],
    ["list", "-ej"],
    ["list", "one", "two"],
    ["list", "-v"],
    ["list", "--", "x"],
    ["shell", "hook", "--shell", "tcsh"],
    ["run"],
    ["run", "--", "true"],
    ["config", "--set", "channels", "x"],
    ["info", "--envs", "extra"],
    ["create", "-n", "x", "tool", "-v"],
    ["install", "-n", "x", "--revision", "1"],
    ["install", "-n", "x", "-yq", "tool"],
    ["create", "-n", "x", "--json", "--json", "tool"],
    ["create", "-n", "x", "-c"],
    ["update", "--", "tool"],
    ["remove", "-n", "x", "--update-all", "tool"],
]


@pytest.mark.parametrize("argv", HANDED_TO_TYPER, ids=" ".join)
def test_what_the_quick_path_does_not_understand_goes_to_typer(argv: list[str]) -> None:
    found = route_for(argv)
    assert found is None or parse(*found) is None


def test_run_options_end_at_the_command() -> None:
    found = route_for(["run", "-n", "demo", "python", "-c", "print(1)", "--help"])
    assert found is not None
    assert parse(*found) == {
        "name": "demo",
        "executable_call": ["python", "-c", "print(1)", "--help"],
    }


def _typer_command(words: tuple[str, ...]):
    command = typer.main.get_command(build_app(list(words)))
    for word in words:
        command = command.commands[word]  # type: ignore[attr-defined]
    return command


@pytest.mark.parametrize("words", list(ROUTES), ids=" ".join)
def test_each_route_reads_what_typer_reads(words: tuple[str, ...]) -> None:
    """Every option the quick path takes is the same parameter in Typer's command, with
    the same value for a flag; its arguments are Typer's arguments."""
    route: Route = ROUTES[words]
    command = _typer_command(words)
    by_option = {opt: param for param in command.params for opt in param.opts}
    by_option |= {opt: param for param in command.params for opt in param.secondary_opts}
    for option, (parameter, value) in route.options.items():
        param = by_option[option]
        assert param.name == parameter, option
        if value in (VALUE, VALUES):
            assert not param.is_flag, option
            assert param.multiple == (value is VALUES), option
        else:
            assert param.is_flag, option
            assert (option not in param.secondary_opts) == value, option
        if parameter in route.choices:
            assert {c.value for c in param.type_descriptor.annotation} == SHELL_NAMES
    arguments = [p.name for p in command.params if p.param_type_name == "argument"]
    if route.rest or route.many:
        assert arguments == [route.rest or route.many]
        assert all(p.nargs == -1 for p in command.params if p.param_type_name == "argument")
    elif route.extra_args:
        assert command.context_settings.get("allow_extra_args")
    else:
        assert arguments == list(route.arguments)


def test_a_command_is_refused_a_typer_default_that_is_not_its_own() -> None:
    from ophis.cli.declared import declared

    def body(json_output: bool = False) -> None: ...

    with pytest.raises(TypeError, match="default"):
        declared(body, json_output=typer.Option(True, "--json"))


def test_a_failing_quick_command_exits_as_typer_would(user: dict[str, str]) -> None:
    code, out, err = _run(user, _MAIN, ["list", "-n", "no-such-env"])
    assert code == 1
    assert "Error:" in err and "no-such-env" in err
    assert out == ""


def test_repeated_options_and_specs_among_options_are_read_as_typer_reads_them() -> None:
    argv = ["install", "-c", "a", "numpy", "--channel=b", "-f", "x.txt", "scipy>=1", "-y"]
    found = route_for(argv)
    assert found is not None
    assert parse(*found) == {
        "channel": ["a", "b"],
        "specs": ["numpy", "scipy>=1"],
        "file": [Path("x.txt")],
        "yes": True,
    }


def test_quick_paths_keep_paths_typed(tmp_path: Path) -> None:
    found = route_for(["config", "--show", "--file", str(tmp_path / "rc")])
    assert found is not None
    keywords = parse(*found)
    assert keywords is not None and keywords["file"] == tmp_path / "rc"
    assert keywords["ctx"].args == []
