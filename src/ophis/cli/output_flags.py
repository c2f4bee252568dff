"""conda's ``-v/--verbose`` and ``-q/--quiet``, accepted after every conda verb.

conda declares both on each subcommand (``conda install -q x``), so a script may put them
after any verb. Commands that declare their own ``--quiet`` keep it; every other conda verb
gets the two options added here, before Typer reads the command's signature.
"""

from __future__ import annotations

import functools
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

import typer

from ophis.cli import output

#: the verbs (and groups, whose subcommands all take them) that are conda's
CONDA_VERBS = frozenset(
    {
        "create",
        "install",
        "update",
        "upgrade",
        "remove",
        "uninstall",
        "list",
        "search",
        "info",
        "config",
        "clean",
        "env",
        "run",
        "compare",
        "rename",
        "init",
        "notices",
        "package",
    }
)

#: conda's ``-v`` count -> the logging level (once: more detail, twice INFO, thrice DEBUG;
#: four times is conda's TRACE, which Python's logging has not: DEBUG too)
_LEVELS = {0: logging.WARNING, 1: logging.WARNING, 2: logging.INFO}

VERBOSE = typer.Option(
    0,
    "--verbose",
    "-v",
    count=True,
    help="Repeat for more: detailed output, then INFO, DEBUG and TRACE logging.",
)
_VERBOSE = inspect.Parameter(
    "verbose", inspect.Parameter.KEYWORD_ONLY, default=VERBOSE, annotation=int
)
_QUIET = inspect.Parameter(
    "quiet",
    inspect.Parameter.KEYWORD_ONLY,
    default=typer.Option(False, "--quiet", "-q", help="Do not show progress bars."),
    annotation=bool,
)


def add_output_flags(app: typer.Typer) -> None:
    """Give each command of a conda verb ``-v`` and ``-q`` (``-q`` where it has none)."""
    for info in app.registered_commands:
        if info.name in CONDA_VERBS and info.callback is not None:
            info.callback = _with_output_flags(info.callback)
    for group in app.registered_groups:
        if group.name in CONDA_VERBS and group.typer_instance is not None:
            _all_commands(group.typer_instance)


def _all_commands(app: typer.Typer) -> None:
    for info in app.registered_commands:
        if info.callback is not None:
            info.callback = _with_output_flags(info.callback)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            _all_commands(group.typer_instance)


def _with_output_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(command, eval_str=True)
    own = signature.parameters
    if "verbose" in own:
        return command
    added = [_VERBOSE] + ([] if "quiet" in own else [_QUIET])
    keeps_quiet = "quiet" in own

    @functools.wraps(command)
    def with_flags(*args: Any, verbose: int = 0, **kwargs: Any) -> Any:
        quiet = kwargs.get("quiet", False) if keeps_quiet else kwargs.pop("quiet", False)
        apply_output_flags(verbose, quiet)
        return command(*args, **kwargs)

    parameters = [*own.values(), *added]
    with_flags.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_flags.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_flags


def apply_output_flags(verbose: int, quiet: bool) -> None:
    """``-q``: no progress bars anywhere; ``-v``: conda's logging levels, on stderr (with
    no ``-v`` the logging stays as it was: ``ophis -vv VERB`` keeps its level)."""
    output.set_quiet(quiet)
    if verbose:
        level = _LEVELS.get(verbose, logging.DEBUG)
        logging.basicConfig(
            stream=sys.stderr,
            level=level,
            format="%(levelname)s %(name)s: %(message)s",
            force=True,
        )
