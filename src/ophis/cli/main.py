"""The ``ophis`` command: registers one module per verb.

Typer is imported only when :mod:`ophis.cli.quick` leaves the command line to it.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from typing import TYPE_CHECKING

from ophis import __version__
from ophis.cli.quick import dispatch
from ophis.cli.verbs import COMMANDS, VERB_HELP

if TYPE_CHECKING:
    import typer


def _version(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"ophis {__version__}")
        raise typer.Exit()


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The Typer app; when ``argv`` names a verb, only that verb's module is imported
    (start-up time is felt on every call a script makes); when it names none, the verbs
    are listed from :data:`VERB_HELP` without importing any; with no ``argv``, every
    command is registered."""
    import typer

    from ophis.cli.output_flags import VERBOSE, add_output_flags, apply_output_flags
    from ophis.cli.plain_params import use_plain_params

    use_plain_params()
    app = typer.Typer(
        name="ophis",
        help="Ophis: conda-compatible environments, channels, builds and mirrors.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # conda's -h as well as --help, on every command (click passes it down)
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", "-V", callback=_version, is_eager=True, help="Show the version."
        ),
        verbose: int = VERBOSE,
    ) -> None:
        """Ophis: conda-compatible environments, channels, builds and mirrors."""
        apply_output_flags(verbose, quiet=False)  # conda's 'conda -v VERB' too

    verb = next((a for a in argv or [] if not a.startswith("-")), None)
    if verb in COMMANDS:
        modules = [COMMANDS[verb]]
    elif argv is not None:
        # no verb (or an unknown one): the listing needs each verb's line, not its module
        for name, text in VERB_HELP.items():
            app.command(name, help=text)(_listed_only)
        return app
    else:
        modules = sorted(set(COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"ophis.cli.commands.{module}").register(app)
    add_output_flags(app)
    return app


def _listed_only() -> None:
    """Stands for a verb in the top-level help; a named verb loads its real command."""


def conda_shell_spelling(argv: list[str]) -> list[str]:
    """conda's ``shell.bash hook`` (``shell.<name> hook|activate|...``) as Ophis's
    ``shell hook --shell bash``, so hooks written for conda work unchanged."""
    if argv and argv[0].startswith("shell."):
        name = argv[0].removeprefix("shell.").removesuffix(".exe")
        return ["shell", *argv[1:], "--shell", name]
    return argv


def main() -> None:
    sys.argv[1:] = conda_shell_spelling(sys.argv[1:])
    try:
        if not dispatch(sys.argv[1:]):
            build_app(sys.argv[1:])()
    except SystemExit as done:
        leave_without_native_teardown(done.code)
        raise
    leave_without_native_teardown(0)


def leave_without_native_teardown(code: object) -> None:
    """End a command that loaded py-rattler without the interpreter's teardown. py-rattler's
    worker threads release its objects; when that races with interpreter shutdown the
    process dies (SIGSEGV or abort, about one run in thirty) after its output is complete,
    and a script sees a failure. The exit handlers run (logging, temporary folders,
    flushes) while the interpreter is whole, then the process ends without releasing
    anything one by one (a last garbage collection alone took a tenth of a solve)."""
    if "rattler" not in sys.modules:
        return  # nothing native to tear down: the usual exit
    if isinstance(code, str):  # as the interpreter does with sys.exit("message")
        sys.stderr.write(code + "\n")
        code = 1
    status = 0 if code is None else code if isinstance(code, int) else 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            status = status or 120
    os._exit(status)


def release_native_objects() -> None:
    """Drop py-rattler objects while the interpreter is still whole (the tests' process
    calls this too). A command that never loaded py-rattler has none."""
    if "rattler" not in sys.modules:
        return
    solve = sys.modules.get("ophis.manager.solve")
    if solve is not None:
        solve.clear_repodata_cache()
    gc.collect()
