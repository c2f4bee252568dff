"""``ophis shell hook|activate|deactivate|reactivate`` (conda's ``shell.<name> ...``), and
``ophis activate|deactivate`` reaching the executable because the shell has no hook.

These run on every activation, so the error renderer (Rich) is imported only on failure, and
Typer only by :func:`register` (:mod:`ophis.cli.quick` calls the functions directly).
"""

from __future__ import annotations

import os
import shutil
import sys
from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

from ophis.cli.declared import declared
from ophis.core.errors import OphisError
from ophis.manager.activation import (
    Activator,
    Changes,
    default_activation_env,
    finalize,
    hook,
    not_set_up_error,
    render,
    shell_named,
)
from ophis.manager.config import load_config_from_os

if TYPE_CHECKING:
    import typer

    from ophis.distribution.shell_init import InitChange


class ShellName(StrEnum):
    bash = "bash"
    zsh = "zsh"
    posix = "posix"
    fish = "fish"
    powershell = "powershell"
    cmd = "cmd"


_PASS_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    import typer

    shell_option = typer.Option(
        None, "--shell", "-s", help="The shell to write for (default: the one $SHELL names)."
    )
    shell = typer.Typer(
        help="Shell integration: the hook and the scripts it evaluates.", no_args_is_help=True
    )
    shell.command("hook")(declared(shell_hook, shell=shell_option))
    shell.command("activate")(
        declared(
            shell_activate,
            env_name_or_prefix=typer.Argument(
                None, metavar="[NAME|PATH]", help="Default: default_activation_env (base)."
            ),
            stack=typer.Option(
                None, "--stack/--no-stack", help="Keep the active environment's bin on PATH."
            ),
            shell=shell_option,
        )
    )
    shell.command("deactivate")(declared(shell_deactivate, shell=shell_option))
    shell.command("reactivate")(declared(shell_reactivate, shell=shell_option))
    shell.command("init")(
        declared(
            shell_init,
            shell=typer.Argument(None, help="Default: the one $SHELL names, else bash."),
            reverse=typer.Option(False, "--reverse", help="Remove Ophis's block instead."),
            dry_run=typer.Option(False, "--dry-run", help="Show the change; write nothing."),
            json_output=typer.Option(False, "--json", help="Print a JSON summary."),
        )
    )
    app.add_typer(shell, name="shell")
    app.command("activate", context_settings=_PASS_ARGS)(activate)
    app.command("deactivate", context_settings=_PASS_ARGS)(deactivate)
    app.command("init")(
        declared(
            init,
            shells=typer.Argument(None, help="Default: the one $SHELL names, else bash."),
            all_shells=typer.Option(False, "--all", help="Every shell Ophis supports."),
            reverse=typer.Option(False, "--reverse", help="Remove Ophis's blocks instead."),
            dry_run=typer.Option(False, "--dry-run", "-d", help="Show; write nothing."),
            json_output=typer.Option(False, "--json", help="Print a JSON summary."),
        )
    )


def ophis_command() -> list[str]:
    """This Ophis executable by absolute path, so a hook works when it is not on PATH."""
    argv0 = sys.argv[0]
    if os.path.basename(argv0).removesuffix(".exe") == "ophis":
        found = argv0 if os.sep in argv0 else shutil.which(argv0)
        if found:
            return [os.path.abspath(found)]
    return [sys.executable, "-m", "ophis"]


def _fail(error: OphisError) -> NoReturn:
    from ophis.cli.output import fail

    fail(error, False)


def shell_hook(shell: ShellName | None = None) -> None:
    """Print the shell code that sets up 'ophis activate'.

    For example, in ~/.bashrc: eval "$(ophis shell hook --shell bash)"."""
    target = shell_named(shell, os.environ)
    try:
        text = hook(target, ophis_command(), load_config_from_os())
    except OphisError as error:
        _fail(error)
    sys.stdout.write(text)


def shell_activate(
    env_name_or_prefix: str | None = None,
    stack: bool | None = None,
    shell: ShellName | None = None,
) -> None:
    """Print the script that activates an environment in the calling shell."""
    try:
        config = load_config_from_os()
        activator = Activator(config, os.environ, shell_named(shell, os.environ))
        target = env_name_or_prefix or default_activation_env(config)
        _emit(activator, activator.activate(target, stack))
    except OphisError as error:
        _fail(error)


def shell_deactivate(shell: ShellName | None = None) -> None:
    """Print the script that deactivates the active environment."""
    try:
        activator = Activator(load_config_from_os(), os.environ, shell_named(shell, os.environ))
        _emit(activator, activator.deactivate())
    except OphisError as error:
        _fail(error)


def shell_reactivate(shell: ShellName | None = None) -> None:
    """Print the script that runs the active environment's scripts again."""
    try:
        activator = Activator(load_config_from_os(), os.environ, shell_named(shell, os.environ))
        _emit(activator, activator.reactivate())
    except OphisError as error:
        _fail(error)


class InitShell(StrEnum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def shell_init(
    shell: InitShell | None = None,
    reverse: bool = False,
    dry_run: bool = False,
    json_output: bool = False,
) -> None:
    """Add 'ophis activate' to your shell's start-up file (~/.bashrc, ~/.zshrc,
    config.fish, profile.ps1) between marker lines; --reverse takes it out again.

    The block is static: a new shell does not start Ophis until you type 'ophis ...'."""
    _initialize([shell] if shell else [], reverse, dry_run, json_output)


def init(
    shells: list[InitShell] | None = None,
    all_shells: bool = False,
    reverse: bool = False,
    dry_run: bool = False,
    json_output: bool = False,
) -> None:
    """conda's 'init': set up one or more shells' start-up files for 'ophis activate'."""
    _initialize(list(InitShell) if all_shells else shells or [], reverse, dry_run, json_output)


def _initialize(shells: list[InitShell], reverse: bool, dry_run: bool, json_output: bool) -> None:
    from ophis.cli.output import emit_json, fail
    from ophis.distribution.shell_init import (
        apply_init,
        default_init_shell,
        installed_root_prefix,
        plan_init,
    )

    names = [s.value for s in shells] or [default_init_shell(os.environ)]
    try:
        config = load_config_from_os()
        changes = [
            plan_init(
                name,
                ophis_command(),
                os.environ,
                reverse=reverse,
                root_prefix=installed_root_prefix(),
                config=config,
            )
            for name in names
        ]
        if not dry_run:
            for change in changes:
                apply_init(change)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        summaries = [{**change.to_json(), "dry_run": dry_run} for change in changes]
        emit_json(summaries[0] if len(summaries) == 1 else {"changes": summaries})
        return
    for change in changes:
        _report_init(change, dry_run)


def _report_init(change: InitChange, dry_run: bool) -> None:
    verb = {"added": "Added", "updated": "Updated", "removed": "Removed"}.get(change.action)
    if verb is None:
        print(f"No change: {change.path} is already as it should be.")
    elif dry_run:
        print(f"Would change {change.path} ({change.action}); it would become:\n")
        sys.stdout.write(change.after.decode("utf-8", errors="replace"))
    else:
        print(f"{verb} Ophis's block in {change.path}. Open a new shell to use it.")


def _emit(activator: Activator, changes: Changes) -> None:
    for warning in changes.warnings:
        print(warning, file=sys.stderr)
    sys.stdout.write(finalize(render(changes, activator.shell), activator.shell))


def activate() -> None:
    """Activate an environment (needs the shell hook: see 'ophis shell hook --help')."""
    _fail(not_set_up_error(shell_named(None, os.environ)))


def deactivate() -> None:
    """Deactivate the active environment (needs the shell hook)."""
    _fail(not_set_up_error(shell_named(None, os.environ)))
