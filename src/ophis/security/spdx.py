"""The same bills of materials as :mod:`ophis.security.sbom`, as SPDX 2.3 JSON documents.

Written as plain dicts on purpose: SPDX 2.3 JSON is a small, stable format, and the
``spdx-tools`` library would pull rdflib, ply, beartype and more into every install for a
second output format (the tests validate our documents with it). Licenses that are not SPDX
ids or expressions become ``LicenseRef-`` entries with the original text, as the spec asks.

SPDX 2.3 has no vulnerability section: known vulnerabilities are listed as each package's
``SECURITY``/``advisory`` external references. Files are not listed: SPDX requires a SHA-1
per file and conda's paths.json records only SHA-256.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from cyclonedx.spdx import fixup_id, is_expression

from ophis import __version__
from ophis.core.spec_name import spec_name
from ophis.security.sbom import KnownVulnerability, SbomPackage

__all__ = ["environment_document", "package_document"]

SPDX_VERSION = "SPDX-2.3"
_NAMESPACE = "https://spdx.org/spdxdocs/ophis"  # + /<name>-<uuid>: unique per document
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
_NVD = "https://nvd.nist.gov/vuln/detail/"


def package_document(
    package: SbomPackage, vulnerabilities: Iterable[KnownVulnerability] = ()
) -> dict[str, Any]:
    """The SPDX document of one package file: it DESCRIBES the package; the package
    DEPENDS_ON one entry per ``depends`` spec (name only, version NOASSERTION)."""
    writer = _Writer(f"{package.name}-{package.version}-{package.build}")
    main = writer.add_package(package, list(vulnerabilities))
    writer.relate("SPDXRef-DOCUMENT", "DESCRIBES", main)
    for spec in package.depends:
        requirement = writer.add_requirement(spec)
        writer.relate(main, "DEPENDS_ON", requirement)
    return writer.document()


def environment_document(
    name: str,
    packages: Sequence[SbomPackage],
    vulnerabilities: Iterable[KnownVulnerability] = (),
) -> dict[str, Any]:
    """The SPDX document of an environment: it DESCRIBES every installed package, and each
    DEPENDS_ON the installed packages its specs name."""
    writer = _Writer(name)
    known = list(vulnerabilities)
    ids = {p.name: writer.add_package(p, known) for p in packages}
    for package in packages:
        writer.relate("SPDXRef-DOCUMENT", "DESCRIBES", ids[package.name])
    for package in packages:
        wanted = {spec_name(spec) for spec in package.depends} & ids.keys()
        for other in sorted(wanted - {package.name}):
            writer.relate(ids[package.name], "DEPENDS_ON", ids[other])
    return writer.document()


class _Writer:
    """Collects packages, relationships and extracted licenses of one document."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.packages: list[dict[str, Any]] = []
        self.relationships: list[dict[str, str]] = []
        self.licenses: dict[str, dict[str, str]] = {}  # LicenseRef id -> its entry
        self.ids: set[str] = set()

    def add_package(self, package: SbomPackage, known: list[KnownVulnerability]) -> str:
        spdx_id = self._unique_id(f"SPDXRef-Package-{package.name}-{package.version}")
        refs = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package.ref,
            }
        ]
        refs += [_advisory(v) for v in known if v.affects(package)]
        entry: dict[str, Any] = {
            "SPDXID": spdx_id,
            "name": package.name,
            "versionInfo": package.version,
            "downloadLocation": _download_location(package.url),
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": self._license(package.license),
            "copyrightText": "NOASSERTION",
            "checksums": _checksums(package),
            "externalRefs": refs,
            "primaryPackagePurpose": "LIBRARY",
        }
        if package.filename:
            entry["packageFileName"] = package.filename
        if package.summary:
            entry["summary"] = package.summary
        if package.homepage and "://" in package.homepage:
            entry["homepage"] = package.homepage
        self.packages.append(entry)
        return spdx_id

    def add_requirement(self, spec: str) -> str:
        name = spec_name(spec)
        spdx_id = self._unique_id(f"SPDXRef-Requirement-{name}")
        self.packages.append(
            {
                "SPDXID": spdx_id,
                "name": name,
                "downloadLocation": "NOASSERTION",
                "filesAnalyzed": False,
                "comment": f"required as '{spec}'",
            }
        )
        return spdx_id

    def relate(self, element: str, kind: str, related: str) -> None:
        self.relationships.append(
            {
                "spdxElementId": element,
                "relationshipType": kind,
                "relatedSpdxElement": related,
            }
        )

    def document(self) -> dict[str, Any]:
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        document: dict[str, Any] = {
            "spdxVersion": SPDX_VERSION,
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": self.name,
            "documentNamespace": f"{_NAMESPACE}/{_safe(self.name)}-{uuid.uuid4()}",
            "creationInfo": {"created": created, "creators": [f"Tool: ophis-{__version__}"]},
            "packages": self.packages,
            "relationships": self.relationships,
        }
        if self.licenses:
            document["hasExtractedLicensingInfos"] = list(self.licenses.values())
        return document

    def _license(self, text: str | None) -> str:
        if not text:
            return "NOASSERTION"
        spdx_id = fixup_id(text)
        if spdx_id:
            return spdx_id
        if is_expression(text):
            return text
        ref = f"LicenseRef-{_safe(text)}"
        self.licenses.setdefault(ref, {"licenseId": ref, "name": text, "extractedText": text})
        return ref

    def _unique_id(self, wanted: str) -> str:
        base = _safe(wanted)
        spdx_id, n = base, 1
        while spdx_id in self.ids:
            n += 1
            spdx_id = f"{base}-{n}"
        self.ids.add(spdx_id)
        return spdx_id


def _checksums(package: SbomPackage) -> list[dict[str, str]]:
    pairs = (("SHA256", package.sha256), ("MD5", package.md5))
    return [{"algorithm": alg, "checksumValue": value} for alg, value in pairs if value]


def _advisory(vuln: KnownVulnerability) -> dict[str, str]:
    score = vuln.score
    comment = f"{vuln.id} ({vuln.status}" + (f", CVSS {score:g})" if score is not None else ")")
    return {
        "referenceCategory": "SECURITY",
        "referenceType": "advisory",
        "referenceLocator": _NVD + vuln.id
        if vuln.id.startswith("CVE-")
        else f"https://osv.dev/vulnerability/{vuln.id}",
        "comment": comment,
    }


def _download_location(url: str | None) -> str:
    """SPDX accepts only network locations (a local channel's file:// URL is not one)."""
    if url and url.startswith(("https://", "http://", "ftp://")):
        return url
    return "NOASSERTION"


def _safe(text: str) -> str:
    """SPDX ids allow letters, digits, ``.`` and ``-`` only."""
    return _ID_UNSAFE.sub("-", text).strip("-") or "x"
