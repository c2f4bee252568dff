"""``ophis run``: a command inside an environment, without activating a shell (conda run)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ophis.cli.commands.shell import ophis_command
from ophis.cli.declared import declared
from ophis.core.errors import OphisError
from ophis.manager.activation import SHELLS, Activator, execute_run_script, run_script
from ophis.manager.config import load_config_from_os

if TYPE_CHECKING:
    import typer


def register(app: typer.Typer) -> None:
    import typer

    command = declared(
        run,
        executable_call=typer.Argument(..., metavar="COMMAND"),
        name=typer.Option(None, "--name", "-n", help="Name of the environment."),
        prefix=typer.Option(None, "--prefix", "-p", help="Full path to the environment."),
        cwd=typer.Option(None, "--cwd", help="Run the command in this directory."),
        live_stream=typer.Option(
            False,
            "--live-stream",
            "--no-capture-output",
            "-s",
            help="Pass the command's output through as it comes (default: show it at the end).",
        ),
    )
    # options end at the command: 'ophis run -n ds python -c ...' passes -c to python
    app.command("run", context_settings={"allow_interspersed_args": False})(command)


def run(
    executable_call: list[str],
    name: str | None = None,
    prefix: str | None = None,
    cwd: Path | None = None,
    live_stream: bool = False,
) -> None:
    """Run a command in an environment, without activating the shell.

    The environment is activated as 'ophis activate' would (PATH, CONDA_PREFIX, its variables,
    activate.d scripts); ophis exits with the command's status."""
    try:
        activator = Activator(load_config_from_os(), os.environ, SHELLS["posix"])
        target = activator.target(name, prefix)
        script = run_script(activator, target, executable_call, ophis_command())
        result = execute_run_script(script, os.environ, cwd, capture=not live_stream)
    except OphisError as error:
        from ophis.cli.output import fail

        fail(error, False)
    if not live_stream:
        sys.stdout.buffer.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.buffer.write(result.stderr)
        sys.stderr.flush()
    if result.returncode != 0:
        print(
            f"ERROR: `ophis run {' '.join(executable_call)}` failed. (See above for error)",
            file=sys.stderr,
        )
    sys.exit(result.returncode)
