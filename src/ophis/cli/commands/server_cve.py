"""``ophis server cve``: load vulnerability feeds (OSV, CVE JSON 5, NVD) into the server's
database and list what it knows. Importing re-matches every stored file; curators' statuses
are kept."""

from __future__ import annotations

from pathlib import Path

import typer

from ophis.cli.commands.server_options import (
    CONFIG,
    DATA_DIR,
    DATABASE,
    JSON,
    print_rows,
    server_session,
)
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import OphisError


def cve_app() -> typer.Typer:
    cve = typer.Typer(help="Known vulnerabilities (CVE feeds).", no_args_is_help=True)
    cve.command("import")(import_feed)
    cve.command("list")(list_)
    return cve


def import_feed(
    path: Path = typer.Argument(
        ..., help="An OSV, CVE JSON 5 or NVD JSON file, or a directory of them."
    ),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Load a vulnerability feed (records upserted by id), then re-match every file."""
    from ophis.security.cve import load_feed
    from ophis.server.services.trust.cves import import_records

    try:
        records = load_feed(path)
    except OphisError as error:
        fail(error, as_json)
    with server_session(data_dir, database_url, as_json, config) as session:
        summary = import_records(session, records).as_json()
    if as_json:
        emit_json({"path": str(path), **summary})
        return
    stdout.print(
        f"{summary['records']} records from {path} ({summary['created']} new, "
        f"{summary['updated']} updated); matches: {summary['matches_added']} added, "
        f"{summary['matches_removed']} removed; policy changes: "
        f"{summary['files_hidden_changed']} files",
        highlight=False,
    )


def list_(
    package: str = typer.Option(None, "--package", help="Only records naming this package."),
    min_score: float = typer.Option(None, "--min-score", help="Only records scoring this or more."),
    data_dir: Path = DATA_DIR,
    database_url: str = DATABASE,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """List the known vulnerability records, highest score first."""
    from ophis.server.services.trust.cves import list_vulnerabilities, vulnerability_public

    with server_session(data_dir, database_url, as_json, config) as session:
        rows = [vulnerability_public(r) for r in list_vulnerabilities(session, package, min_score)]
    if as_json:
        emit_json(rows)
        return
    keys = ("id", "score", "severity", "summary")
    print_rows(
        [{key: str(row[key] if row[key] is not None else "")[:90] for key in keys} for row in rows],
        as_json,
    )
