"""What the channel-server commands share (``ophis login``, ``upload``, ``label``, ...): the
``--server`` and ``--json`` options, a connection as the logged-in user, and rendering."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from rich.table import Table

from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.client.api import ApiClient
from ophis.client.credentials import ClientConfig, token_for
from ophis.core.errors import OphisError

SERVER = typer.Option(
    None,
    "--server",
    "-s",
    envvar="OPHIS_SERVER",
    help="A server you logged in to, by name or API URL (default: the last one).",
)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d")
JSON = typer.Option(False, "--json", help="Print JSON.")
OWNER = typer.Option(
    None, "--owner", "-o", help="The user or organization (default: the one logged in)."
)


@contextmanager
def connect(server: str | None, as_json: bool) -> Iterator[ApiClient]:
    """The API of ``server`` as the user logged in to it (anonymous when nobody is); any
    OphisError inside ends the command with its message and remedy."""
    try:
        target = ClientConfig.load(os.environ).resolve(server)
        with ApiClient(target.url, token_for(target, os.environ)) as api:
            yield api
    except OphisError as error:
        fail(error, as_json)


def show_facts(facts: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(facts)
        return
    width = max(map(len, facts), default=0)
    for key, value in facts.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        stdout.print(f"{key + ':':<{width + 2}}{shown}", highlight=False, markup=False)


def show_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """``rows`` as a table of ``columns`` (with --json: the rows, every field)."""
    if as_json:
        emit_json(list(rows))
        return
    if not rows:
        stderr.print("(none)")
        return
    table = Table(*columns, box=None, pad_edge=False)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    stdout.print(table)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return value[:16].replace("T", " ")  # to the minute, as people read it
    return "" if value is None else str(value)


def say(message: str) -> None:
    stdout.print(message, highlight=False, markup=False, soft_wrap=True)
