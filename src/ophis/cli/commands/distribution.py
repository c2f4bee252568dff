"""``ophis constructor`` (installers) and ``ophis metapackage`` (pinned sets)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ophis.cli.output import emit_json, fail, progress_bar, stdout
from ophis.core.errors import OphisError


def register(app: typer.Typer) -> None:
    app.command("constructor")(constructor)
    app.command("metapackage")(metapackage)


def constructor(
    construct_yaml: Path = typer.Argument(
        ..., metavar="CONSTRUCT_YAML", help="construct.yaml, or the folder holding it."
    ),
    output_dir: Path = typer.Option(
        Path("."), "--output-dir", "-o", help="Where the installer is written."
    ),
    platform: str = typer.Option(
        None, "--platform", help="The installer's platform (default: this machine's)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Build a self-contained shell installer (NAME-VERSION-PLATFORM.sh) from a construct.yaml:
    the solved packages and Ophis itself, installable offline with 'sh FILE -b -p PREFIX'."""
    from ophis.distribution.construct import read_construct
    from ophis.distribution.constructor import build_installer
    from ophis.manager.download import DOWNLOAD_STAGE

    try:
        construct = read_construct(construct_yaml)
        with progress_bar(
            "Fetching packages", enabled=not json_output, bytes_stage=DOWNLOAD_STAGE
        ) as progress:
            report = build_installer(construct, output_dir, platform=platform, progress=progress)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(report.to_json())
        return
    for key in report.ignored_keys:
        stdout.print(f"[yellow]Ignored[/] construct.yaml key {key!r} (not used on Linux/macOS).")
    stdout.print(
        f"Wrote {report.path} ({report.size / 1e6:.1f} MB, {len(report.packages)} packages, "
        f"payload sha256 {report.sha256}).",
        highlight=False,
        soft_wrap=True,
    )
    stdout.print(f"Install with: sh {report.path.name} -b -p PREFIX", highlight=False)


def metapackage(
    name: str = typer.Argument(..., help="The metapackage's name."),
    version: str = typer.Argument(..., help="Its version."),
    specs: list[str] = typer.Argument(None, help="Dependencies, when not from an environment."),
    from_env: str = typer.Option(
        None, "--from-env", help="Pin the packages of this environment (a name or a path)."
    ),
    env_name: str = typer.Option(None, "--name", "-n", help="Pin this named environment."),
    env_prefix: str = typer.Option(None, "--prefix", "-p", help="Pin the environment at PATH."),
    loose: bool = typer.Option(
        False, "--loose", help="Pin only the names, not versions and builds."
    ),
    output_dir: Path = typer.Option(
        Path("."), "--output-dir", "-o", help="The channel folder it goes into (indexed)."
    ),
    build_number: int = typer.Option(0, "--build-number", help="Its build number."),
    summary: str = typer.Option("", "--summary", help="Its one-line description."),
    json_output: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Build a package with no files whose dependencies pin an environment's packages
    (name ==version build, as the anaconda metapackage does) or the specs given."""
    from ophis.distribution.metapackage import (
        MetapackageError,
        MetapackageOptions,
        build_metapackage,
        pins_of_prefix,
    )

    options = MetapackageOptions(name, version, output_dir, build_number, summary, loose)
    try:
        sources = [s for s in (from_env, env_name, env_prefix) if s] + (["specs"] if specs else [])
        if len(sources) > 1:
            raise MetapackageError(
                "More than one source of packages was given.",
                "Give one of --from-env, -n, -p or a list of specs.",
            )
        prefix = _prefix(from_env, env_name, env_prefix)
        if prefix is not None:
            depends, subdir = pins_of_prefix(prefix, loose=loose)
        else:
            depends, subdir = list(specs or []), "noarch"
        report = build_metapackage(options, depends, subdir)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(report.to_json())
        return
    stdout.print(
        f"Wrote {report.path} ({len(report.depends)} dependencies); "
        f"install it with: ophis install -c {output_dir.resolve().as_uri()} {name}",
        highlight=False,
        soft_wrap=True,
    )


def _prefix(from_env: str | None, name: str | None, prefix: str | None) -> Path | None:
    """The environment named, by -n/-p or --from-env (a path when it holds a separator)."""
    if from_env:
        if os.sep in from_env or from_env.startswith("."):
            prefix = from_env
        else:
            name = from_env
    if not (name or prefix):
        return None
    from ophis.manager.config import load_config_from_os
    from ophis.manager.targets import existing_prefix

    return existing_prefix(name, prefix, load_config_from_os(), os.environ)
