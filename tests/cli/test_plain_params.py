"""Parameters converted without pydantic give what typer's own conversion gives: the same
values, and the same error for a bad one."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import pytest
import typer
from typer import core
from typer.testing import CliRunner

from ophis.cli.plain_params import use_plain_params


class Shell(StrEnum):
    bash = "bash"
    fish = "fish"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def show(
        words: list[str] = typer.Argument(None),
        name: str = typer.Option(None, "--name"),
        count: int = typer.Option(0, "--count"),
        level: int = typer.Option(1, "--level", min=0, max=3),
        where: Path = typer.Option(None, "--where"),
        shell: Shell = typer.Option(Shell.bash, "--shell"),
        channel: list[str] = typer.Option([], "--channel", "-c"),
        files: list[Path] = typer.Option([], "--file"),
        flag: bool = typer.Option(False, "--flag"),
    ) -> None:
        values = [words, name, count, level, where, shell, channel, files, flag]
        print(repr([(type(v).__name__, v) for v in values]))

    @app.command()
    def other() -> None:
        """A second command, so that 'show' is named on the command line."""

    return app


ARGVS = [
    ["show"],
    ["show", "a", "b", "--name", "x", "--count", "-3", "--level", "2", "--flag"],
    ["show", "--where", "some/dir", "--shell", "fish", "-c", "one", "-c", "two"],
    ["show", "--file", "a.yml", "--file", "b.txt", "--name", ""],
    ["show", "--count", "3.5"],
    ["show", "--count", "x"],
    ["show", "--level", "9"],
    ["show", "--shell", "zsh"],
    ["show", "--shell", "FISH"],
]


def _run(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), argv)
    return result.exit_code, result.output


@pytest.mark.parametrize("argv", ARGVS, ids=" ".join)
def test_plain_params_match_typers(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "build_runtime_param", core.build_runtime_param)
    use_plain_params()
    plain = _run(argv)
    from typer import _coercion

    monkeypatch.setattr(core, "build_runtime_param", _coercion.build_runtime_param)
    assert plain == _run(argv)
