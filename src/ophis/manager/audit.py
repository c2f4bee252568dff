"""What ``ophis sbom`` and ``ophis audit`` compute: the packages of a package file or of an
environment, their known vulnerabilities (from a local OSV/NVD feed, or from a server's
``POST <api>/cves/audit`` with the curators' statuses), their bill of materials (CycloneDX
1.6 or SPDX 2.3 JSON) and the audit report with its ``--fail-on`` decision.

Nothing here prints: the environment's warnings (skipped prefix records) are returned for
the CLI to show.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ophis.client.api import ApiClient, NotFound
from ophis.client.credentials import ClientConfig, CredentialsError, api_url, token_for
from ophis.core.errors import OphisError
from ophis.core.package_file import read_package
from ophis.manager.config import load_config_from_os
from ophis.manager.prefix import PrefixData
from ophis.manager.records import channel_name
from ophis.manager.targets import ChangeRequest, channels_for, existing_prefix
from ophis.security import cve, spdx
from ophis.security import sbom as cdx
from ophis.security.sbom import KnownVulnerability, SbomPackage, severity_of

FORMATS = ("cyclonedx", "spdx")


class SecurityCommandError(OphisError):
    """An SBOM or audit request that cannot be served (bad options, missing feed, a server
    without a vulnerability database)."""

    exception_name = "SecurityCommandError"


@dataclass(frozen=True)
class Inventory:
    """What an SBOM or an audit is about: one package file, or an environment's packages."""

    packages: list[SbomPackage]
    #: the environment's folder (None for a package file)
    prefix: Path | None = None
    #: messages about prefix records that were skipped, for the caller to show
    warnings: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return (self.prefix.name or str(self.prefix)) if self.prefix else ""


# --- reading packages ---------------------------------------------------------------------


def sbom_inventory(
    package_file: Path | None,
    name: str | None,
    prefix: str | None,
    output_format: str,
    *,
    files: bool = True,
    channel: str | None = None,
) -> Inventory:
    """The package file (its files listed when ``files`` and CycloneDX), else the
    environment named by -n/-p (else the active one), after checking the options."""
    if output_format not in FORMATS:
        raise SecurityCommandError(
            f"Unknown format '{output_format}'.", "Use --format cyclonedx or --format spdx."
        )
    if package_file is not None and (name or prefix):
        raise SecurityCommandError(
            "Give a package file or an environment (-n/-p), not both.",
            "Run `ophis sbom FILE` or `ophis sbom -n ENV`.",
        )
    if package_file is None:
        return read_environment(name, prefix)
    with_files = files and output_format != "spdx"
    return Inventory([read_package_file(package_file, channel, with_files)])


def read_package_file(path: Path, channel: str | None, with_files: bool) -> SbomPackage:
    try:
        contents = read_package(path)
    except OSError as error:
        raise SecurityCommandError(
            f"Cannot read the package file {path}: {error.strerror or error}.",
            "Check the path: give a .conda or .tar.bz2 file.",
        ) from None
    return SbomPackage.from_contents(contents, channel=channel, with_files=with_files)


def read_environment(name: str | None, prefix: str | None) -> Inventory:
    """The environment named by -n/-p (else the active one), as the packages it holds."""
    config = load_config_from_os()
    target = existing_prefix(name, prefix, config, os.environ)
    data = PrefixData(target)
    records = list(data.records().values())
    try:
        channels = channels_for(ChangeRequest("list", Path()), config) if records else []
    except OphisError:
        channels = []  # the channel names in PURLs are optional: no configuration, no names
    packages = [
        SbomPackage.from_prefix_record(record, channel_name(record, channels) or None)
        for record in records
    ]
    return Inventory(packages, target, list(data.warnings))


# --- known vulnerabilities ------------------------------------------------------------------


def feed_vulnerabilities(feed: Path, packages: list[SbomPackage]) -> list[KnownVulnerability]:
    """What an imported feed says about ``packages`` (status ``reported``: no curator)."""
    if not feed.exists():
        raise SecurityCommandError(
            f"The feed {feed} does not exist.",
            "Pass an OSV or NVD CVE JSON file, or a folder of them, to --feed.",
        )
    vulns = cve.load_feed(feed)
    findings = cve.match(vulns, [(p.name, p.version) for p in packages])
    return [KnownVulnerability.from_finding(f) for f in findings]


def server_vulnerabilities(
    server: str | None, packages: list[SbomPackage]
) -> tuple[str, list[KnownVulnerability]]:
    """The server's API URL and what it (``POST <api>/cves/audit``) knows about
    ``packages``, with the curators' statuses; as the user logged in to it, if any."""
    if server and "://" in server:
        server = api_url(server)
    try:
        target = ClientConfig.load(os.environ).resolve(server)
    except CredentialsError as error:
        raise SecurityCommandError(
            error.message, f"{error.remedy} Or audit against a local feed: --feed FILE|DIR."
        ) from None
    body = {
        "packages": [{"name": p.name, "version": p.version, "sha256": p.sha256} for p in packages]
    }
    with ApiClient(target.url, token_for(target, os.environ)) as api:
        try:
            answer = api.call("POST", "/cves/audit", json=body)
        except NotFound:
            raise SecurityCommandError(
                f"The server at {api.url} has no vulnerability database "
                "(it does not answer POST /cves/audit).",
                "Use an Ophis server with CVE tracking, or a local feed: --feed FILE|DIR.",
            ) from None
    return api.url, [KnownVulnerability.from_api(item) for item in answer.get("findings", [])]


# --- ophis sbom ---------------------------------------------------------------------------


def sbom_document(inventory: Inventory, output_format: str, feed: Path | None) -> str:
    """The SBOM of ``inventory`` as JSON text, with the feed's vulnerabilities if any."""
    packages = inventory.packages
    known = feed_vulnerabilities(feed, packages) if feed else []
    if inventory.prefix is None:
        if output_format == "spdx":
            return json.dumps(spdx.package_document(packages[0], known), indent=2)
        return cdx.to_json(cdx.package_bom(packages[0], known))
    if output_format == "spdx":
        document = spdx.environment_document(inventory.title, packages, known)
        return json.dumps(document, indent=2)
    return cdx.to_json(cdx.environment_bom(inventory.title, packages, known))


# --- ophis audit --------------------------------------------------------------------------


def audit_inventory(
    name: str | None, prefix: str | None, feed: Path | None, server: str | None
) -> Inventory:
    """The environment to audit, after checking that one source of vulnerabilities is named."""
    if feed is not None and server:
        raise SecurityCommandError(
            "Give --feed or --server, not both.",
            "Audit against a local feed file, or against a server's curated database.",
        )
    return read_environment(name, prefix)


def audit_report(
    inventory: Inventory, feed: Path | None, server: str | None, fail_on: float | None
) -> dict[str, Any]:
    """``ophis audit --json``'s document: the findings against ``feed``, else the server."""
    packages = inventory.packages
    if feed is not None:
        where, known = str(feed), feed_vulnerabilities(feed, packages)
    else:
        where, known = server_vulnerabilities(server, packages)
    rows = audit_rows(packages, known)
    return {
        "prefix": str(inventory.prefix),
        "source": "feed" if feed is not None else "server",
        "where": where,
        "packages": len(packages),
        "fail_on": fail_on,
        "failed": fails(rows, fail_on),
        "findings": rows,
    }


def audit_rows(
    packages: list[SbomPackage], known: list[KnownVulnerability]
) -> list[dict[str, Any]]:
    """One row per (installed package, vulnerability), highest score first."""
    rows = []
    for vuln in known:
        package = next((p for p in packages if vuln.affects(p)), None)
        if package is None:
            continue
        score = vuln.score
        severity = next((r.severity for r in vuln.ratings if r.severity), None)
        rows.append(
            {
                "name": package.name,
                "version": package.version,
                "build": package.build,
                "sha256": package.sha256,
                "id": vuln.id,
                "score": score,
                "severity": (severity or severity_of(score)).lower(),
                "status": vuln.status,
                "reason": vuln.reason,
                "summary": vuln.summary,
            }
        )
    unique = {(r["name"], r["id"]): r for r in rows}.values()
    return sorted(unique, key=lambda r: (-(r["score"] or 0.0), r["name"], r["id"]))


def fails(rows: list[dict[str, Any]], fail_on: float | None) -> bool:
    """Whether a finding's score reaches ``--fail-on`` (never without it)."""
    return fail_on is not None and any(
        r["score"] is not None and r["score"] >= fail_on for r in rows
    )
