"""``ophis list`` and ``ophis search``: what an environment has, what the channels offer."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import typer
from rich.table import Table

from ophis.cli.commands.change import CHANNEL, JSON, NAME, OVERRIDE, PREFIX, warn
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.explicit import ExplicitPackage, dumps_explicit
from ophis.manager.history import Revision, pretty_lines, revision_event, revision_log
from ophis.manager.operations import (
    ChangeRequest,
    channels_for,
    existing_prefix,
    fetch_repodata,
)
from ophis.manager.prefix import PrefixData
from ophis.manager.records import channel_name, dist_fields
from ophis.manager.search import search, search_json


def register(app: typer.Typer) -> None:
    app.command("list")(list_packages)
    app.command("search")(search_packages)


def list_packages(
    regex: str = typer.Argument(None, help="Only packages whose name matches this regex."),
    name: str = NAME,
    prefix: str = PREFIX,
    full_name: bool = typer.Option(False, "--full-name", "-f", help="Match the whole name."),
    explicit: bool = typer.Option(False, "--explicit", help="Print an @EXPLICIT spec file."),
    export: bool = typer.Option(False, "--export", "-e", help="Print name=version=build lines."),
    md5: bool = typer.Option(False, "--md5", help="With --explicit: add #md5 to each URL."),
    revisions: bool = typer.Option(
        False, "--revisions", "-r", help="Show the environment's history of changes."
    ),
    json_output: bool = JSON,
) -> None:
    """List the packages installed in an environment."""
    try:
        config = load_config_from_os()
        target = existing_prefix(name, prefix, config, os.environ)
        data = PrefixData(target)
        if revisions:
            _print_revisions(revision_log(target), json_output)
            return
        records = [r for n, r in sorted(data.records().items()) if _wanted(n, regex, full_name)]
    except OphisError as error:
        fail(error, json_output)
    warn(data.warnings)
    channels = [] if not records else _known_channels(config)
    if json_output:
        emit_json([dist_fields(r, channels) for r in records])
    elif explicit:
        _print_explicit(records, config.subdir, md5)
    elif export:
        stdout.print(
            f"# This file may be used to create an environment using:\n"
            f"# $ ophis create --name <env> --file <this file>\n"
            f"# platform: {config.subdir}",
            highlight=False,
            markup=False,
        )
        for r in records:
            stdout.print(f"{r.name.normalized}={r.version}={r.build}", highlight=False)
    else:
        _print_table(target, records, channels)


def _wanted(package: str, regex: str | None, full_name: bool) -> bool:
    if not regex:
        return True
    return bool(re.fullmatch(regex, package) if full_name else re.search(regex, package))


def _known_channels(config) -> list:
    try:
        return channels_for(ChangeRequest("list", Path()), config)
    except OphisError:
        return []


def _print_revisions(revisions: list[Revision], json_output: bool) -> None:
    """conda's ``list --revisions``: ``History.print_log``, or ``object_log`` as JSON."""
    if json_output:
        emit_json([revision_event(r) for r in revisions])
        return
    for revision in revisions:
        lines = [f"{revision.timestamp}  (rev {revision.number})"]
        lines += [f"    {line}" for line in pretty_lines(revision)]
        sys.stdout.write("\n".join(lines) + "\n\n")


def _print_explicit(records, platform: str, md5: bool) -> None:
    packages = [
        ExplicitPackage(str(r.url), md5=bytes(r.md5).hex() if r.md5 else None) for r in records
    ]
    text = dumps_explicit(packages, platform, checksums=md5)
    stdout.print(text.rstrip("\n"), highlight=False, markup=False, soft_wrap=True)


def _print_table(target: Path, records, channels) -> None:
    stdout.print(f"# packages in environment at {target}:\n#", highlight=False, markup=False)
    stdout.print(f"# {'Name':<24}{'Version':<26}{'Build':>8}  Channel", highlight=False)
    for r in records:
        channel = channel_name(r, channels)
        stdout.print(
            f"{r.name.normalized:<26}{r.version!s:<26}{r.build!s:>8}  {channel}",
            highlight=False,
            markup=False,
        )


def search_packages(
    spec: str = typer.Argument(..., help="A spec: 'numpy', 'numpy>=1.26', '*numpy*'."),
    channel: list[str] = CHANNEL,
    override_channels: bool = OVERRIDE,
    subdir: str = typer.Option(None, "--subdir", "--platform", help="Search this platform."),
    on_server: bool = typer.Option(
        False, "--on-server", help="Search the server you logged in to (`ophis login`)."
    ),
    json_output: bool = JSON,
) -> None:
    """Search the channels for packages matching a spec."""
    if on_server:
        from ophis.cli.commands.packages_remote import search_on_server

        search_on_server(spec, subdir, os.environ.get("OPHIS_SERVER"), json_output)
        return
    try:
        config = load_config_from_os()
        request = ChangeRequest(
            "search", Path(), channels=tuple(channel), override_channels=override_channels
        )
        channels = channels_for(request, config)
        repodata = fetch_repodata(channels, (subdir or config.subdir, "noarch"), config)
        found = search(spec, channels, repodata)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(search_json(found))
        return
    table = Table("# Name", "Version", "Build", "Channel", box=None, pad_edge=False)
    for item in found:
        r = item.record
        table.add_row(r.name.normalized, str(r.version), str(r.build), item.channel.name)
    stdout.print("Loading channels: done", highlight=False)
    stdout.print(table)
