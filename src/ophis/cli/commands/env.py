"""``ophis env list|export`` and ``ophis info``: named environments and the installation."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer

from ophis import __version__
from ophis.cli.commands.change import (
    DRY_RUN,
    JSON,
    NAME,
    PREFIX,
    QUIET,
    YES,
    ChangeOptions,
    change_document,
    run_change,
)
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import CondaValueError, OphisError
from ophis.core.platform import detect_machine_facts
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config, load_config_from_os
from ophis.manager.envfile import dumps_environment_file, read_environment_file
from ophis.manager.environments import (
    check_env_file_target,
    check_removable,
    environment_name,
    export_environment,
    finish_env_file,
    list_environments,
    prune_candidates,
)
from ophis.manager.operations import ChangeRequest, channels_for, existing_prefix, resolve_prefix


def register(app: typer.Typer) -> None:
    env = typer.Typer(help="Named environments and environment files.", no_args_is_help=True)
    env.command("list")(env_list)
    env.command("export")(env_export)
    env.command("create")(env_create)
    env.command("update")(env_update)
    env.command("remove")(env_remove)
    app.add_typer(env, name="env")
    app.command("info")(info)


def env_list(json_output: bool = JSON) -> None:
    """List the environments (conda's ``env list``)."""
    try:
        config = load_config_from_os()
    except OphisError as error:
        fail(error, json_output)
    envs = list_environments(config, os.environ)
    if json_output:
        emit_json({"envs": [str(p) for p in envs]})
        return
    _print_envs(envs, config)


def _print_envs(envs: list[Path], config: Config) -> None:
    active = os.environ.get("CONDA_PREFIX")
    stdout.print("# conda environments:\n#", highlight=False, markup=False, soft_wrap=True)
    for prefix in envs:
        mark = "*" if active and Path(active).absolute() == prefix else " "
        name = environment_name(prefix, config) or ""
        stdout.print(f"{name:<25} {mark} {prefix}", highlight=False, markup=False, soft_wrap=True)


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
        document = {
            "name": exported.name,
            "channels": list(exported.channels),
            "dependencies": list(exported.dependencies),
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
    dry_run: bool = DRY_RUN,
    yes: bool = typer.Option(False, "--yes", "-y", help="Replace an existing environment."),
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Create an environment from an environment.yml: conda packages, then the pip: section,
    then the variables: (set on activation)."""
    _apply_env_file("create", file, name, prefix, dry_run, yes, quiet, json_output)


def env_update(
    file: Path = ENV_FILE,
    name: str = NAME,
    prefix: str = PREFIX,
    prune: bool = typer.Option(False, "--prune", help="Remove what the file no longer needs."),
    dry_run: bool = DRY_RUN,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Update an environment from an environment.yml."""
    _apply_env_file("install", file, name, prefix, dry_run, True, quiet, json_output, prune)


def env_remove(
    name: str = NAME,
    prefix: str = PREFIX,
    dry_run: bool = DRY_RUN,
    yes: bool = YES,
    quiet: bool = QUIET,
    json_output: bool = JSON,
) -> None:
    """Remove an environment and everything in it."""
    try:
        config = load_config_from_os()
        target = resolve_prefix(name, prefix, config, os.environ, creating=False)
        check_removable(target, config, os.environ)
    except OphisError as error:
        fail(error, json_output)
    options = ChangeOptions.quiet_defaults(
        name, prefix, json_output=json_output, dry_run=dry_run, yes=yes, all_packages=True
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
) -> None:
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
    options = ChangeOptions.quiet_defaults(name, prefix, json_output=json_output, dry_run=dry_run)
    options = replace(options, quiet=quiet or json_output)
    channels = list(environment.channels)
    specs = list(environment.dependencies)
    # conda prints one document for the whole command, once pip has run too
    deferred = json_output and not dry_run
    outcomes = [
        run_change(action, replace(options, specs=specs, channel=channels), defer_json=deferred)
    ]
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


def info(
    envs: bool = typer.Option(False, "--envs", "-e", help="List the environments."),
    json_output: bool = JSON,
) -> None:
    """Show the installation: configuration, channels, caches, environments."""
    if envs:
        env_list(json_output)
        return
    try:
        facts = info_facts(load_config_from_os())
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(facts)
        return
    for key in (
        "active_prefix",
        "root_prefix",
        "platform",
        "channels",
        "pkgs_dirs",
        "envs_dirs",
        "virtual_pkgs",
        "config_files",
        "python_version",
    ):
        value = facts[key]
        if key == "virtual_pkgs":
            value = ["=".join(v) for v in value]
        shown = ("\n" + " " * 23).join(map(str, value)) if isinstance(value, list) else value
        stdout.print(f"{key:>20} : {shown}", highlight=False, markup=False, soft_wrap=True)


def _channel_urls(config: Config) -> list[str]:
    """Each configured channel's URL per searched subdir, as conda's ``info`` lists them."""
    try:
        channels = channels_for(ChangeRequest("info", Path()), config)
    except OphisError:  # none configured: conda's info shows an empty list
        return []
    return [c.url(subdir) for c in channels for subdir in (config.subdir, "noarch")]


def info_facts(config: Config) -> dict[str, Any]:
    """conda's ``info --json`` fields that apply to Ophis."""
    active = os.environ.get("CONDA_PREFIX")
    virtual = detect_virtual_packages(config.subdir, detect_machine_facts(), os.environ)
    return {
        "active_prefix": active,
        "active_prefix_name": environment_name(Path(active), config) if active else None,
        "channels": _channel_urls(config),
        "conda_version": __version__,
        "ophis_version": __version__,
        "config_files": [str(p) for p in config.search_path if p.exists()],
        "default_prefix": active or str(config.root_prefix),
        "envs": [str(p) for p in list_environments(config, os.environ)],
        "envs_dirs": [str(p) for p in config.envs_dirs],
        "offline": config.offline,
        "pkgs_dirs": [str(p) for p in config.pkgs_dirs],
        "platform": config.subdir,
        "python_version": platform.python_version(),
        "root_prefix": str(config.root_prefix),
        "sys.executable": sys.executable,
        "sys.prefix": sys.prefix,
        "sys.version": sys.version,
        "user_agent": f"ophis/{__version__} py/{platform.python_version()} {platform.system()}",
        "virtual_pkgs": [[v.name, v.version, v.build] for v in virtual],
    }
