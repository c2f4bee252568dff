"""``ophis sbom`` and ``ophis audit``: what a package file or an environment is made of, and
which of its packages have known vulnerabilities.

``ophis audit`` exits with :data:`FINDINGS_EXIT_CODE` (1) when a finding's score is at or
above ``--fail-on``; its ``--json`` output is::

    {"prefix": "/path/to/env", "source": "feed" | "server", "where": "<feed path or API URL>",
     "packages": <installed packages checked>, "fail_on": <score or null>,
     "failed": <true when a finding reached fail_on>,
     "findings": [{"name", "version", "build", "sha256", "id", "score", "severity",
                   "status", "reason", "summary"}, ...]}
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ophis.cli.options import NAME, PREFIX, warn
from ophis.cli.output import emit_json, fail, stderr, stdout
from ophis.core.atomic_file import write_atomic
from ophis.core.errors import OphisError
from ophis.manager import audit as service
from ophis.manager.audit import SecurityCommandError

#: ``ophis audit``'s exit code when a finding reaches ``--fail-on``
FINDINGS_EXIT_CODE = 1
JSON = typer.Option(False, "--json", help="Print JSON (errors too).")
FORMAT = typer.Option("cyclonedx", "--format", help="cyclonedx (1.6 JSON) or spdx (2.3 JSON).")
FEED = typer.Option(
    None, "--feed", help="A vulnerability feed (OSV or NVD CVE JSON file, or a folder of them)."
)


def register(app: typer.Typer) -> None:
    app.command("sbom")(sbom)
    app.command("audit")(audit)


# --- ophis sbom ---------------------------------------------------------------------------


def sbom(
    package_file: Path = typer.Argument(
        None, help="A package file (.conda or .tar.bz2); else the environment (-n/-p)."
    ),
    name: str = NAME,
    prefix: str = PREFIX,
    output_format: str = FORMAT,
    feed: Path = FEED,
    files: bool = typer.Option(
        True, "--files/--no-files", help="List a package file's files (CycloneDX only)."
    ),
    channel: str = typer.Option(
        None, "--channel", "-c", help="The channel name in a package file's PURL."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Write to this file, not stdout."),
    json_output: bool = JSON,
) -> None:
    """A bill of materials: CycloneDX 1.6 (or SPDX 2.3) JSON of a package file or of an
    environment, with PURLs, hashes, licenses, dependencies and, with --feed, known
    vulnerabilities."""
    try:
        inventory = service.sbom_inventory(
            package_file, name, prefix, output_format, files=files, channel=channel
        )
        warn(inventory.warnings)
        document = service.sbom_document(inventory, output_format, feed)
        if output is not None:
            _write(output, document)
    except OphisError as error:
        fail(error, json_output)
    count = len(inventory.packages)
    if output is None:
        sys.stdout.write(document.rstrip("\n") + "\n")
    elif json_output:
        emit_json({"path": str(output), "format": output_format, "packages": count})
    else:
        stderr.print(f"Wrote the {output_format} SBOM of {count} package(s) to {output}.")


def _write(path: Path, text: str) -> None:
    if not path.parent.is_dir():
        raise SecurityCommandError(
            f"Cannot write {path}: its folder does not exist.", "Create the folder first."
        )
    write_atomic(path, (text.rstrip("\n") + "\n").encode())


# --- ophis audit --------------------------------------------------------------------------


def audit(
    name: str = NAME,
    prefix: str = PREFIX,
    feed: Path = FEED,
    server: str = typer.Option(
        None,
        "--server",
        "-s",
        envvar="OPHIS_SERVER",
        help="Ask this server (name or URL; default: the one you logged in to).",
    ),
    fail_on: float = typer.Option(
        None,
        "--fail-on",
        min=0.0,
        max=10.0,
        help=f"Exit with code {FINDINGS_EXIT_CODE} when a finding's CVSS score is at least this.",
    ),
    json_output: bool = JSON,
) -> None:
    """List the installed packages with known vulnerabilities: their CVEs, CVSS scores,
    severities and curator statuses, from an imported feed (--feed) or from the server."""
    try:
        inventory = service.audit_inventory(name, prefix, feed, server)
        warn(inventory.warnings)
        report = service.audit_report(inventory, feed, server, fail_on)
    except OphisError as error:
        fail(error, json_output)
    if json_output:
        emit_json(report)
    else:
        _print_audit(report)
    if report["failed"]:
        raise typer.Exit(FINDINGS_EXIT_CODE)


_STYLES = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}


def _print_audit(report: dict[str, Any]) -> None:
    rows = report["findings"]
    stdout.print(
        f"# audit of {report['prefix']} ({report['packages']} packages) against {report['where']}",
        markup=False,
    )
    if not rows:
        stdout.print("No known vulnerabilities.", highlight=False)
        return
    table = Table("Package", "Version", "Build", "ID", "Score", "Severity", "Status", box=None)
    for row in rows:
        score = "" if row["score"] is None else f"{row['score']:.1f}"
        severity = row["severity"]
        table.add_row(
            row["name"],
            row["version"],
            row["build"],
            row["id"],
            score,
            f"[{_STYLES.get(severity, '')}]{severity}[/]" if severity in _STYLES else severity,
            row["status"],
        )
    stdout.print(table)
    packages = len({r["name"] for r in rows})
    stdout.print(f"{len(rows)} known vulnerabilities in {packages} package(s).", highlight=False)
    if report["failed"]:
        stderr.print(
            f"[bold red]Failed:[/] a vulnerability scores {report['fail_on']:g} or more "
            "(--fail-on).",
            highlight=False,
        )
