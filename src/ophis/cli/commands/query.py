"""``ophis search``: what the channels offer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from ophis.cli.options import CHANNEL, INSECURE, JSON, OFFLINE, OVERRIDE, USE_INDEX_CACHE
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.operations import fetch_repodata
from ophis.manager.search import search, search_json
from ophis.manager.targets import ChangeRequest, channels_for


def register(app: typer.Typer) -> None:
    app.command("search")(search_packages)


def search_packages(
    spec: str = typer.Argument(..., help="A spec: 'numpy', 'numpy>=1.26', '*numpy*'."),
    channel: list[str] = CHANNEL,
    override_channels: bool = OVERRIDE,
    subdir: str = typer.Option(None, "--subdir", "--platform", help="Search this platform."),
    on_server: bool = typer.Option(
        False, "--on-server", help="Search the server you logged in to (`ophis login`)."
    ),
    info: bool = typer.Option(
        False, "--info", "-i", help="Every field of each matching record, as conda shows them."
    ),
    use_index_cache: bool = USE_INDEX_CACHE,
    insecure: bool = INSECURE,
    offline: bool = OFFLINE,
    json_output: bool = JSON,
) -> None:
    """Search the channels for packages matching a spec."""
    if on_server:
        from ophis.cli.commands.packages_remote import search_on_server

        search_on_server(spec, subdir, os.environ.get("OPHIS_SERVER"), json_output)
        return
    try:
        config = load_config_from_os(
            use_index_cache=use_index_cache or None,
            ssl_verify=False if insecure else None,
            offline=offline or None,
        )
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
    if info:
        from ophis.cli.record_info import record_info

        for entries in search_json(found).values():
            for entry in entries:
                sys.stdout.write(record_info(entry) + "\n")
        return
    table = Table("# Name", "Version", "Build", "Channel", box=None, pad_edge=False)
    for item in found:
        r = item.record
        table.add_row(r.name.normalized, str(r.version), str(r.build), item.channel.name)
    stdout.print("Loading channels: done", highlight=False)
    stdout.print(table)
