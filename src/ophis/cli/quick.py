"""The calls a shell or a script makes most, answered without importing Typer and Click.

Typer and Click take a tenth of a second to import, more than ``ophis shell hook`` or
``ophis list`` take to do their work. The command lines in :data:`ROUTES` are read here and
their functions called directly, but only when this module understands every argument: an
option it does not know, a missing value, a value that looks like an option, a repeated
option, ``--help``, a shell's completion request... anything else goes to the Typer app,
so its behaviour and its messages stay Typer's. ``tests/cli/test_quick.py`` checks each
route against the command Typer builds for the same verb.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

#: an option whose value is the next argument (``--name base``) or follows ``=``
VALUE = SimpleNamespace(name="VALUE")
#: the same, repeatable: each value is added to a list (``-c one -c two``)
VALUES = SimpleNamespace(name="VALUES")

#: the shells ``--shell`` accepts (``ophis.cli.commands.shell.ShellName``)
SHELL_NAMES = frozenset({"bash", "zsh", "posix", "fish", "powershell", "cmd"})


@dataclass(frozen=True)
class Route:
    """How a command line maps onto a command function's keyword arguments."""

    #: ``module:function`` under ``ophis.cli.commands``
    target: str
    #: option -> (parameter, VALUE or the constant the flag sets)
    options: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: the optional positional parameters, in order
    arguments: tuple[str, ...] = ()
    #: the parameter that takes the first positional argument and every one after it
    #: (options end there, as ``run``'s do)
    rest: str | None = None
    #: the parameter that takes every positional argument, with options among them
    #: (``create -n demo numpy -c conda-forge``)
    many: str | None = None
    #: the positional arguments go to ``ctx.args`` (a command reading Click's extra args)
    extra_args: bool = False
    #: parameter -> the values it accepts
    choices: dict[str, frozenset[str]] = field(default_factory=dict)
    #: parameters Typer makes a ``Path``
    paths: tuple[str, ...] = ()


def _options(*specs: tuple[tuple[str, ...], str, Any]) -> dict[str, tuple[str, Any]]:
    return {flag: (parameter, value) for flags, parameter, value in specs for flag in flags}


_JSON = (("--json",), "json_output", True)
_SHELL = (("--shell", "-s"), "shell", VALUE)
_ENVIRONMENT = ((("--name", "-n"), "name", VALUE), (("--prefix", "-p"), "prefix", VALUE))

#: what every verb changing an environment reads (``ophis.cli.commands.change``)
_CHANGING = (
    *_ENVIRONMENT,
    _JSON,
    (("--channel", "-c"), "channel", VALUES),
    (("--override-channels", "-O"), "override_channels", True),
    (("--offline",), "offline", True),
    (("--refuse-link-scripts",), "refuse_link_scripts", True),
    (("--dry-run", "-d"), "dry_run", True),
    (("--yes", "-y"), "yes", True),
    (("--quiet", "-q"), "quiet", True),
)
#: and what the three that solve read besides
_SOLVING = (
    *_CHANGING,
    (("--strict-channel-priority",), "strict_channel_priority", True),
    (("--no-channel-priority",), "no_channel_priority", True),
    (("--file", "-f"), "file", VALUES),
    (("--no-deps",), "no_deps", True),
    (("--only-deps",), "only_deps", True),
    (("--no-pin",), "no_pin", True),
    (("--copy",), "copy", True),
    (("--download-only",), "download_only", True),
    (("--repodata-fn",), "repodata_fn", VALUES),
    (("--solver",), "solver", VALUE),
    (("--use-index-cache", "-C"), "use_index_cache", True),
    (("--insecure", "-k"), "insecure", True),
)
_UPDATING = (
    *_SOLVING,
    (("--force-reinstall",), "force_reinstall", True),
    (("--freeze-installed", "--no-update-deps"), "freeze_installed", True),
    (("--update-specs",), "update_specs", True),
    (("--update-deps",), "update_deps", True),
    (("--satisfied-skip-solve", "-S"), "satisfied_skip_solve", True),
    (("--all", "--update-all"), "update_all", True),
)
_CREATE = Route(
    "change:create",
    _options(
        *_SOLVING,
        (("--locked",), "locked", VALUE),
        (("--clone",), "clone", VALUE),
        (("--subdir", "--platform"), "subdir", VALUE),
        (("--no-default-packages",), "no_default_packages", True),
    ),
    many="specs",
    paths=("file", "locked"),
)
_INSTALL = Route(
    "change:install",
    _options(*_UPDATING, (("--locked",), "locked", VALUE)),
    many="specs",
    paths=("file", "locked"),
)
_UPDATE = Route("change:update", _options(*_UPDATING), many="specs", paths=("file",))
_REMOVE = Route(
    "change:remove",
    _options(
        *_CHANGING,
        (("--all",), "all_packages", True),
        (("--force", "--no-deps"), "force", True),
    ),
    many="specs",
)

ROUTES: dict[tuple[str, ...], Route] = {
    ("create",): _CREATE,
    ("install",): _INSTALL,
    ("update",): _UPDATE,
    ("upgrade",): _UPDATE,
    ("remove",): _REMOVE,
    ("uninstall",): _REMOVE,
    ("shell", "hook"): Route("shell:shell_hook", _options(_SHELL), choices={"shell": SHELL_NAMES}),
    ("shell", "activate"): Route(
        "shell:shell_activate",
        _options(_SHELL, (("--stack",), "stack", True), (("--no-stack",), "stack", False)),
        arguments=("env_name_or_prefix",),
        choices={"shell": SHELL_NAMES},
    ),
    ("shell", "deactivate"): Route(
        "shell:shell_deactivate", _options(_SHELL), choices={"shell": SHELL_NAMES}
    ),
    ("shell", "reactivate"): Route(
        "shell:shell_reactivate", _options(_SHELL), choices={"shell": SHELL_NAMES}
    ),
    ("run",): Route(
        "run:run",
        _options(
            *_ENVIRONMENT,
            (("--cwd",), "cwd", VALUE),
            (("--live-stream", "--no-capture-output", "-s"), "live_stream", True),
        ),
        rest="executable_call",
        paths=("cwd",),
    ),
    ("list",): Route(
        "listing:list_packages",
        _options(
            *_ENVIRONMENT,
            _JSON,
            (("--full-name", "-f"), "full_name", True),
            (("--explicit",), "explicit", True),
            (("--export", "-e"), "export", True),
            (("--canonical", "-c"), "canonical", True),
            (("--md5",), "md5", True),
            (("--sha256",), "sha256", True),
            (("--revisions", "-r"), "revisions", True),
            (("--fields",), "fields", VALUE),
            (("--size",), "size", True),
            (("--reverse",), "reverse", True),
            (("--no-pip",), "no_pip", True),
            (("--show-channel-urls",), "show_channel_urls", True),
            (("--no-show-channel-urls",), "show_channel_urls", False),
        ),
        arguments=("regex",),
    ),
    ("info",): Route(
        "env_info:info",
        _options(
            _JSON,
            (("--envs", "-e"), "envs", True),
            (("--base",), "base", True),
            (("--unsafe-channels",), "unsafe_channels", True),
        ),
    ),
    ("env", "list"): Route("env_info:env_list", _options(_JSON)),
    ("config",): Route(
        "config:config",
        _options(
            _JSON,
            (("--show",), "show", True),
            (("--show-sources",), "show_sources", True),
            (("--validate",), "validate", True),
            (("--describe",), "describe", True),
            (("--get",), "get", True),
            (("--system",), "system", True),
            (("--env",), "env_file", True),
            (("--file",), "file", VALUE),
        ),
        extra_args=True,
        paths=("file",),
    ),
}


def route_for(argv: list[str]) -> tuple[Route, list[str]] | None:
    """The route of ``argv``'s verb (one or two words) and the arguments after it."""
    for length in (2, 1):
        route = ROUTES.get(tuple(argv[:length]))
        if route is not None and len(argv) >= length:
            return route, argv[length:]
    return None


def parse(route: Route, args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments of ``args``, or None when Typer should read them."""
    values: dict[str, Any] = {}
    positionals: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if (route.rest and positionals) or not arg.startswith("-") or arg == "-":
            positionals.append(arg)
            continue
        name, equals, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = route.options.get(name)
        if spec is None:
            return None
        parameter, value = spec
        repeated = value is VALUES
        if parameter in values and not repeated:
            return None
        if repeated or value is VALUE:
            if equals:
                value = inline
            elif index < len(args):
                value = args[index]
                index += 1
            else:
                return None
            if not value or value.startswith("-"):
                return None
        elif equals:
            return None
        if repeated:
            values.setdefault(parameter, []).append(value)
        else:
            values[parameter] = value
    if not _place(route, positionals, values):
        return None
    for parameter, accepted in route.choices.items():
        if parameter in values and values[parameter] not in accepted:
            return None
    for parameter in route.paths:
        if isinstance(values.get(parameter), list):
            values[parameter] = [Path(value) for value in values[parameter]]
        elif parameter in values:
            values[parameter] = Path(values[parameter])
    return values


def _place(route: Route, positionals: list[str], values: dict[str, Any]) -> bool:
    if route.rest:
        values[route.rest] = positionals
        return bool(positionals)
    if route.many:
        values[route.many] = positionals or None  # as Typer gives an argument not given
        return True
    if route.extra_args:
        values["ctx"] = SimpleNamespace(args=positionals)
        return True
    if len(positionals) > len(route.arguments):
        return False
    values.update(zip(route.arguments, positionals, strict=False))
    return True


def dispatch(argv: list[str]) -> bool:
    """Run ``argv`` here when it is a command line this module fully understands; False
    when Typer must read it."""
    if argv in (["--version"], ["-V"]):
        from ophis import __version__

        sys.stdout.write(f"ophis {__version__}\n")
        return True
    if any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ):
        return False  # a shell's completion request: Click answers it
    found = route_for(argv)
    if found is None:
        return False
    route, args = found
    keywords = parse(route, args)
    if keywords is None:
        return False
    module, _, function = route.target.partition(":")
    command = getattr(importlib.import_module(f"ophis.cli.commands.{module}"), function)
    if "quiet" in keywords:  # conda's -q: what ophis.cli.output_flags does for Typer
        from ophis.cli.output import set_quiet

        set_quiet(keywords["quiet"])
    try:
        command(**keywords)
    except Exception as error:
        if _is_usage_error(error):
            return False  # raised before the command did anything: Typer reports it
        _end_as_typer_would(error)
    except KeyboardInterrupt:
        sys.exit(130)
    return True


def _is_usage_error(error: Exception) -> bool:
    """A value the command refused as Click would (``typer.BadParameter``); Typer is in
    ``sys.modules`` only if the command imported it to raise one."""
    click_exceptions = sys.modules.get("typer._click.exceptions")
    return click_exceptions is not None and isinstance(error, click_exceptions.UsageError)


def _end_as_typer_would(error: Exception) -> None:
    """What Typer's standalone mode does with an exception a command raises."""
    import typer
    from typer._click.utils import PacifyFlushWrapper

    if isinstance(error, typer.Exit):
        sys.exit(error.exit_code)
    if isinstance(error, OSError) and error.errno == errno.EPIPE:
        sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
        sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
        sys.exit(1)
    raise error
