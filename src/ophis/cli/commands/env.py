"""``ophis env list|export`` and ``ophis info``: named environments and the installation."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ophis.cli.commands.env_info import env_list, info
from ophis.cli.commands.env_tools import rename
from ophis.cli.declared import declared
from ophis.cli.options import DRY_RUN, JSON, NAME, PREFIX, QUIET, REFUSE_LINK_SCRIPTS, YES
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import CondaValueError, OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.env_vars import UNSET_MARKER, read_env_vars, write_env_vars
from ophis.manager.envfile import dumps_environment_file, read_environment_file
from ophis.manager.environments import (
    check_env_file_target,
    export_environment,
    finish_env_file,
    prune_candidates,
)
from ophis.manager.targets import existing_prefix, resolve_prefix


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments and environment files.", no_args_is_help=True)
    env.command("list")(declared(env_list, json_output=JSON))
    env.command("export")(env_export)
    env.command("create")(env_create)
    env.command("update")(env_update)
    env.command("remove")(env_remove)
    variables = typer.Typer(help="An environment's own variables.", no_args_is_help=True)
    variables.command("list")(env_vars_list)
    variables.command("set")(env_vars_set)
    variables.command("unset")(env_vars_unset)
    config_group = typer.Typer(help="An environment's configuration.", no_args_is_help=True)
    config_group.add_typer(variables, name="vars")
    env.add_typer(config_group, name="config")
    env.command("rename")(rename)
    app.add_typer(env, name="env")
    app.command("info")(
        declared(
            info,
            envs=typer.Option(False, "--envs", "-e", help="List the environments."),
            base=typer.Option(False, "--base", help="Show the base environment's path."),
            unsafe_channels=typer.Option(
                False, "--unsafe-channels", help="Show the channels with their tokens."
            ),
            json_output=JSON,
        )
    )


def env_vars_list(name: str = NAME, prefix: str = PREFIX, json_output: bool = JSON) -> None:
    """List the variables the environment sets on activation (conda's env config vars)."""
    try:
        target = existing_prefix(name, prefix, load_config_from_os(), os.environ)
        shown = {k: v for k, v in read_env_vars(target).items() if v != UNSET_MARKER}
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(shown)
        return
    for key, value in shown.items():
        stdout.print(f"{key} = {value}", highlight=False, markup=False, soft_wrap=True)


def env_vars_set(
    assignments: list[str] = typer.Argument(..., metavar="KEY=VALUE..."),
    name: str = NAME,
    prefix: str = PREFIX,
    json_output: bool = JSON,
) -> None:
    """Set variables that activation exports (KEY=VALUE, separated by spaces)."""
    pairs = dict(_assignment(a) for a in assignments)
    _change_env_vars(name, prefix, json_output, lambda current: {**current, **pairs})


def env_vars_unset(
    names: list[str] = typer.Argument(..., metavar="KEY..."),
    name: str = NAME,
    prefix: str = PREFIX,
    json_output: bool = JSON,
) -> None:
    """Unset variables: activation then removes them (and restores what they overwrote)."""
    keys = {key.strip() for key in names}
    _change_env_vars(
        name,
        prefix,
        json_output,
        lambda current: {k: UNSET_MARKER if k in keys else v for k, v in current.items()},
    )


def _assignment(text: str) -> tuple[str, str]:
    """conda's split: the key before the first ``=``, the value after it, both stripped."""
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


def _change_env_vars(
    name: str | None,
    prefix: str | None,
    json_output: bool,
    change: Callable[[dict[str, str]], dict[str, str]],
) -> None:
    try:
        target = existing_prefix(name, prefix, load_config_from_os(), os.environ)
        write_env_vars(target, change(read_env_vars(target)))
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json({"success": True})
    elif os.environ.get("CONDA_PREFIX") == str(target):
        print("To make your changes take effect please reactivate your environment")


def env_export(
    name: str = NAME,
    prefix: str = PREFIX,
    file: Path = typer.Option(None, "--file", "-f", help="Write to this file, not stdout."),
    from_history: bool = typer.Option(
        False, "--from-history", help="Only the packages that were asked for."
    ),
    no_builds: bool = typer.Option(False, "--no-builds", help="Leave out build strings."),
    json_output: bool = JSON,
) -> None:
    """Write an environment as environment.yml."""
    try:
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        exported = export_environment(
            target, config, from_history=from_history, no_builds=no_builds
        )
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        dependencies: list[Any] = list(exported.dependencies)
        if exported.pip:
            dependencies.append({"pip": list(exported.pip)})
        document = {
            "name": exported.name,
            "channels": list(exported.channels),
            "dependencies": dependencies,
            **({"variables": exported.variables} if exported.variables else {}),
            "prefix": exported.prefix,
        }
        emit_json(document)
        return
    text = dumps_environment_file(exported)
    if file:
        file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


ENV_FILE = typer.Option(
    Path("environment.yml"), "--file", "-f", help="The environment file to read."
)


def env_create(
    file: Path = ENV_FILE,
    name: str = NAME,
    prefix: str = PREFIX,
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    yes: bool = typer.Option(False, "--yes", "-y", help="Replace an existing environment."),
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Create an environment from an environment.yml: conda packages, then the pip: section,
    then the variables: (set on activation)."""
    _apply_env_file(
        "create",
        file,
        name,
        prefix,
        dry_run,
        yes,
        quiet,
        json_output,
        refuse_link_scripts=refuse_link_scripts,
    )


def env_update(
    file: Path = ENV_FILE,
    name: str = NAME,
    prefix: str = PREFIX,
    prune: bool = typer.Option(False, "--prune", help="Remove what the file no longer needs."),
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Update an environment from an environment.yml."""
    _apply_env_file(
        "install",
        file,
        name,
        prefix,
        dry_run,
        True,
        quiet,
        json_output,
        prune,
        refuse_link_scripts=refuse_link_scripts,
    )


def env_remove(
    name: str = NAME,
    prefix: str = PREFIX,
    refuse_link_scripts: bool = REFUSE_LINK_SCRIPTS,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Remove an environment and everything in it."""
    from ophis.cli.commands.change import ChangeOptions, run_change

    # remove --all: run_change refuses the base and the active environment itself
    options = ChangeOptions.quiet_defaults(
        name,
        prefix,
        json_output=json_output,
        dry_run=dry_run,
        yes=yes,
        all_packages=True,
        refuse_link_scripts=refuse_link_scripts,
    )
    run_change("remove", replace(options, quiet=quiet or json_output))


def _apply_env_file(
    action: str,
    file: Path,
    name: str | None,
    prefix: str | None,
    dry_run: bool,
    yes: bool,
    quiet: bool,
    json_output: bool,
    prune: bool = False,
    *,
    refuse_link_scripts: bool = False,
) -> None:
    # the solver and the transaction are imported here: 'env list' and 'info' need neither
    from ophis.cli.commands.change import (
        ChangeOptions,
        change_document,
        print_activation_hint,
        run_change,
    )

    try:
        environment = read_environment_file(file)
        config = load_config_from_os()
        name = name or (None if prefix else environment.name)
        if not (name or prefix):
            raise CondaValueError(
                f"{file} names no environment.", "Give one with -n NAME or -p PATH."
            )
        target = resolve_prefix(name, prefix, config, os.environ, creating=action == "create")
        check_env_file_target(environment, target, config, action, replace=yes)
    except OphisError as error:
        fail(error, json_output)
    options = ChangeOptions.quiet_defaults(
        name,
        prefix,
        json_output=json_output,
        dry_run=dry_run,
        refuse_link_scripts=refuse_link_scripts,
    )
    options = replace(options, quiet=quiet or json_output)
    channels = list(environment.channels)
    specs = list(environment.dependencies)
    # conda prints one document for the whole command, once pip has run too
    deferred = json_output and not dry_run
    changing = replace(options, specs=specs, channel=channels)
    outcomes = [run_change(action, changing, defer_json=deferred, defer_hint=True)]
    if dry_run:
        return
    try:
        pip_installed = finish_env_file(
            environment, target, file.parent, quiet=quiet or json_output
        )
        extras = prune_candidates(target, environment, config) if prune else []
    except OphisError as error:
        fail(error, json_output)
    if extras:
        pruning = replace(options, specs=extras, force=True)
        outcomes.append(run_change("remove", pruning, defer_json=deferred))
    if deferred:
        emit_json(change_document(outcomes, pip_installed), sort_keys=False)
    if action == "create":
        print_activation_hint(options, config, target)
