"""``ophis compare`` and ``ophis rename`` (also ``ophis env rename``), as conda's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ophis.cli.options import DRY_RUN, JSON, NAME, PREFIX, YES
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.env_tools import check_rename, compare_environment, rename_environment
from ophis.manager.envfile import read_environment_file
from ophis.manager.targets import existing_prefix, resolve_prefix


def register(app: typer.Typer) -> None:
    app.command("compare")(compare)
    app.command("rename")(rename)


def compare(
    file: Path = typer.Argument(..., help="The environment file to compare against."),
    name: str = NAME,
    prefix: str = PREFIX,
    json_output: bool = JSON,
) -> None:
    """Check that an environment has every package an environment file asks for."""
    try:
        target = existing_prefix(name, prefix, load_config_from_os(), os.environ)
        matches, lines = compare_environment(target, read_environment_file(file.expanduser()))
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(lines)
    else:
        stdout.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)
    if not matches:
        raise typer.Exit(1)


def rename(
    destination: str = typer.Argument(..., help="The new name (or a path)."),
    name: str = NAME,
    prefix: str = PREFIX,
    yes: bool = YES,
    dry_run: bool = DRY_RUN,
    json_output: bool = JSON,
) -> None:
    """Rename an environment: cloned under the new name, then the old one removed."""
    try:
        config = load_config_from_os()
        source = existing_prefix(name, prefix, config, os.environ)
        by_path = os.sep in destination
        target = resolve_prefix(
            None if by_path else destination,
            destination if by_path else None,
            config,
            os.environ,
            creating=True,
        )
        check_rename(source, target, config, os.environ, force=yes)
        if not dry_run:
            rename_environment(source, target, config, ("ophis", *sys.argv[1:]))
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(
            {"success": True, "dry_run": dry_run, "source": str(source), "prefix": str(target)}
        )
    elif dry_run:
        stdout.print(f"Dry run: would rename {source} to {target}.", highlight=False, markup=False)
    else:
        stdout.print(f"Renamed {source} to {target}.", highlight=False, markup=False)
