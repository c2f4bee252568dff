"""The bill of materials of one stored conda file, with what the server knows about its
vulnerabilities (``GET /api/sbom/{owner}/{package}/{version}/{basename}``).

Built from the database alone — the repodata record and the about facts recorded at upload —
so that no archive is read back from storage. Reaching the file goes through
:func:`ophis.server.services.catalog.packages.get_dist`, so a private file is as hidden (404) as its
download.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.security import sbom, spdx
from ophis.security.sbom import KnownVulnerability, SbomPackage
from ophis.server.db.models import File
from ophis.server.errors import BadRequest, Conflict
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import packages
from ophis.server.services.catalog.servable import log, unservable_reason

FORMATS = {
    "cyclonedx": "application/vnd.cyclonedx+json; version=1.6",
    "spdx": "application/spdx+json",
}


@dataclass(frozen=True)
class FileSbom:
    """A rendered document, its media type and a file name for it."""

    text: str
    media_type: str
    filename: str


def file_sbom(
    session: Session,
    principal: Principal,
    owner: str,
    name: str,
    version: str,
    basename: str,
    output_format: str = "cyclonedx",
) -> FileSbom:
    if output_format not in FORMATS:
        raise BadRequest(
            f"Unknown SBOM format '{output_format}'.", "Ask for ?format=cyclonedx or ?format=spdx."
        )
    row = packages.get_dist(session, principal, owner, name, version, basename)
    package = package_of(row)
    known = known_vulnerabilities(session, row)
    if output_format == "spdx":
        text = json.dumps(spdx.package_document(package, known), indent=2)
        suffix = "spdx.json"
    else:
        text = sbom.to_json(sbom.package_bom(package, known))
        suffix = "cdx.json"
    return FileSbom(text, FORMATS[output_format], f"{row.filename}.{suffix}")


def package_of(row: File) -> SbomPackage:
    """The stored file as an SBOM package: its owner is the channel in its PURL."""
    if row.distribution_type != DistributionType.CONDA or not row.record:
        raise BadRequest(
            f"{row.basename} is not a conda package; SBOMs are made for conda files.",
            "Ask for the SBOM of a .conda or .tar.bz2 file.",
        )
    reason = unservable_reason(row.record, row.facts)
    if reason is not None:  # stored by an older version that did not check it
        log.warning("no SBOM for %s: its stored metadata: %s", row.basename, reason)
        raise Conflict(
            f"{row.basename}: its stored metadata cannot be read ({reason}).",
            "Remove the file and upload a rebuilt package.",
        )
    record = {**row.record, "fn": row.filename}
    return SbomPackage.from_record(record, channel=row.release.package.owner.login, about=row.facts)


def known_vulnerabilities(session: Session, row: File) -> list[KnownVulnerability]:
    """The curated findings of the file (none when this server has no CVE database)."""
    try:
        from ophis.server.db.models import Vulnerability
        from ophis.server.services.trust.cves import findings_for_file
    except ImportError:  # pragma: no cover - a server without the CVE service
        return []
    base = {"name": row.release.package.name, "version": row.release.version}
    known = []
    for item in findings_for_file(session, row.id):
        record = session.get(Vulnerability, item["id"])  # its CVSS vectors, aliases, links
        details: dict[str, Any] = {}
        if record is not None:
            details = {
                "scores": list(record.scores),
                "aliases": list(record.aliases),
                "references": list(record.references),
            }
        known.append(KnownVulnerability.from_api({**base, **details, **item, "sha256": row.sha256}))
    return known
