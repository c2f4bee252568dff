"""``ophis clean`` (free the package caches) and ``ophis doctor`` (check and repair an
environment)."""

from __future__ import annotations

import os

import typer
from rich.markup import escape

from ophis.cli.commands.change import ChangeOptions, run_change
from ophis.cli.options import JSON, NAME, PREFIX, YES
from ophis.cli.output import confirm_proceed, emit_json, exit_declined, fail, stderr, stdout
from ophis.core.errors import OphisError
from ophis.manager.clean import KINDS, CleanTarget, execute_clean, plan_clean
from ophis.manager.config import load_config_from_os
from ophis.manager.doctor import DoctorReport, diagnose, forget_extracted
from ophis.manager.targets import existing_prefix
from ophis.manager.transaction import recover


def register(app: typer.Typer) -> None:
    app.command("clean")(clean)
    app.command("doctor")(doctor)


def clean(
    all_kinds: bool = typer.Option(False, "--all", "-a", help="Everything below."),
    index_cache: bool = typer.Option(False, "--index-cache", "-i", help="Fetched repodata."),
    packages: bool = typer.Option(
        False, "--packages", "-p", help="Extracted packages no environment uses."
    ),
    tarballs: bool = typer.Option(False, "--tarballs", "-t", help="Downloaded archives."),
    tempfiles: bool = typer.Option(False, "--tempfiles", "-c", help="Interrupted downloads."),
    logfiles: bool = typer.Option(False, "--logfiles", "-l", help="Transaction logs."),
    dry_run: bool = typer.Option(False, "--dry-run", "-d", help="Only show what would go."),
    yes: bool = YES,
    json_output: bool = JSON,
) -> None:
    """Remove unused packages and caches."""
    chosen = [
        kind
        for kind, on in zip(
            KINDS, (index_cache, tarballs, packages, tempfiles, logfiles), strict=True
        )
        if on or all_kinds
    ]
    if not chosen:
        raise typer.BadParameter("choose what to clean: --all, -i, -t, -p, -c or -l")
    try:
        config = load_config_from_os()
    except OphisError as error:
        fail(error, json_output)
    plan = plan_clean(config.pkgs_dirs, chosen)
    if not json_output:
        _show_clean(plan)
    found = any(target.paths for target in plan.values())
    if found and not dry_run:
        if not (yes or json_output or config.always_yes) and not confirm_proceed():
            exit_declined()
        execute_clean(plan)
    if json_output:
        emit_json(
            {"success": True, "dry_run": dry_run, **{k: t.to_json(k) for k, t in plan.items()}}
        )


def _show_clean(plan: dict[str, CleanTarget]) -> None:
    for kind, target in plan.items():
        label = kind.replace("_", " ")
        if not target.paths:
            stdout.print(f"There are no {label} to remove.", highlight=False)
            continue
        stdout.print(f"Will remove {len(target.paths)} {label} ({_size(target.total_size)}):")
        for path in target.paths:
            stdout.print(f"  {escape(str(path))}", highlight=False, soft_wrap=True)


def _size(count: int) -> str:
    value, unit = float(count), "B"
    for unit in ("B", "KB", "MB", "GB"):  # noqa: B007 - the last unit tried is the one shown
        if value < 1024:
            break
        value /= 1024
    return f"{value:.1f} {unit}"


def doctor(
    name: str = NAME,
    prefix: str = PREFIX,
    fix: bool = typer.Option(False, "--fix", help="Repair what is found."),
    yes: bool = YES,
    json_output: bool = JSON,
) -> None:
    """Check an environment: missing or altered files, an interrupted transaction."""
    try:
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        if fix and recover(target):
            stderr.print("Rolled back an interrupted transaction.", highlight=False)
        report = diagnose(target)
    except OphisError as error:
        fail(error, json_output)
    if not fix or not report.damaged:
        _render_doctor(report, json_output)
        raise typer.Exit(0 if report.healthy else 1)
    if not json_output:
        _render_doctor(report, json_output)
    pins = [package.pin for package in report.damaged]
    forget_extracted(config.pkgs_dirs, report.damaged)
    channels = list(dict.fromkeys(package.channel for package in report.damaged))
    options = ChangeOptions.quiet_defaults(
        name,
        prefix,
        json_output=json_output,
        yes=yes,
        specs=pins,
        channel=channels,  # where the damaged packages came from (or their cache)
        override_channels=True,
        force_reinstall=True,
    )
    run_change("install", options)


def _render_doctor(report: DoctorReport, json_output: bool) -> None:
    if json_output:
        emit_json(report.to_json())
        return
    stdout.print(
        f"Environment {report.prefix}: {report.checked_packages} packages, "
        f"{report.checked_files} files checked.",
        highlight=False,
        soft_wrap=True,
    )
    if report.interrupted_transaction:
        stdout.print("An interrupted transaction was found: run 'ophis doctor --fix'.")
    for warning in report.warnings:
        stdout.print(f"warning: {escape(warning)}", highlight=False, soft_wrap=True)
    for package in report.damaged:
        for path in package.missing:
            stdout.print(f"{package.name}: missing {escape(path)}", highlight=False, soft_wrap=True)
        for path in package.modified:
            stdout.print(f"{package.name}: altered {escape(path)}", highlight=False, soft_wrap=True)
    if report.healthy:
        stdout.print("No problems found.")
    elif report.damaged:
        stdout.print("Run 'ophis doctor --fix' to reinstall the damaged packages from the cache.")
