"""The ``ophis`` command: registers one module per verb."""

from __future__ import annotations

import typer

from ophis import __version__
from ophis.cli.commands import change, config, query
from ophis.cli.commands import index as index_command

app = typer.Typer(
    name="ophis",
    help="Ophis: conda-compatible environments, channels, builds and mirrors.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ophis {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Ophis: conda-compatible environments, channels, builds and mirrors."""


for command in (change, query, config, index_command):
    command.register(app)


def main() -> None:
    app()
