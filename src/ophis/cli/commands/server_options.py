"""The options and helpers every ``ophis server`` command shares (``server.py`` and its
``server_*`` sub-apps import them from here, so none imports another)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.core.errors import OphisError
from ophis.server.settings import ServerSettings, load_settings

DATA_DIR = typer.Option(
    None,
    "--data-dir",
    help="Where the database, files and caches live [default: $OPHIS_SERVER_DATA or "
    "~/.ophis/server].",
)
DATABASE = typer.Option(
    None,
    "--database",
    "--database-url",
    help="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db [default: "
    "$OPHIS_DATABASE_URL, else SQLite in the data directory].",
)
STORAGE = typer.Option(
    None,
    "--storage",
    help="Where package files live: s3://bucket/prefix [default: $OPHIS_STORAGE_URL, else "
    "files in the data directory].",
)
S3_ENDPOINT = typer.Option(
    None,
    "--s3-endpoint-url",
    help="An S3-compatible service (MinIO, Ceph) [default: $OPHIS_S3_ENDPOINT_URL, else AWS].",
)
CONFIG = typer.Option(
    None,
    "--config",
    help="A TOML file of settings [default: $OPHIS_SERVER_CONFIG or <data-dir>/server.toml].",
)
JSON = typer.Option(False, "--json", help="Print JSON.")


def server_settings(
    as_json: bool, data_dir: Path | None, database_url: str | None, **extra: Any
) -> ServerSettings:
    try:
        return load_settings(data_dir=data_dir, database_url=database_url, **extra)
    except OphisError as error:
        fail(error, as_json)


@contextmanager
def server_session(
    data_dir: Path | None, database_url: str | None, as_json: bool, config: Path | None = None
) -> Iterator[Any]:
    from ophis.server.context import ServerContext

    try:
        context = ServerContext.open(
            server_settings(as_json, data_dir, database_url, config=config)
        )
    except OphisError as error:
        fail(error, as_json)
    try:
        with context.sessions() as session:
            yield session
    except OphisError as error:
        fail(error, as_json)
    finally:
        context.close()


def print_rows(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        emit_json(rows)
        return
    if not rows:
        stderr.print("(none)")
        return
    table = Table(*rows[0])
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    stdout.print(table)
