"""Software bills of materials in CycloneDX 1.6, built with cyclonedx-python-lib.

Three shapes, one model: a package file (the package is the BOM's main component, its
``depends`` specs are components it requires, its files optionally listed from paths.json),
a whole environment (every installed package with its hashes, and the dependency graph
between them) and, in both, the known vulnerabilities of the packages listed.

The input is plain data — :class:`SbomPackage` from a package file's metadata, a
``conda-meta`` record or a channel's repodata record, and :class:`KnownVulnerability` from a
CVE feed match or the server's API — so that the CLI, the manager and the server all feed the
same builders. Pure: no I/O; callers read the files and write the result.

Package URLs follow the PURL spec's ``conda`` type:
``pkg:conda/<name>@<version>?build=<build>&channel=<channel>&subdir=<subdir>&type=<conda|tar.bz2>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentScope, ComponentType
from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus, ImpactAnalysisState
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.model.vulnerability import (
    BomTarget,
    BomTargetVersionRange,
    Vulnerability,
    VulnerabilityAdvisory,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilityReference,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.spdx import fixup_id, is_expression
from packageurl import PackageURL

from ophis import __version__
from ophis.core.package_file import PackageContents
from ophis.core.spec_name import spec_name
from ophis.security import cve

__all__ = [
    "CURATOR_STATES",
    "KnownVulnerability",
    "Rating",
    "SbomFile",
    "SbomPackage",
    "environment_bom",
    "package_bom",
    "public_url",
    "severity_of",
    "to_json",
]

#: a curator's status of a (CVE, package file) -> CycloneDX's analysis state
CURATOR_STATES: dict[str, ImpactAnalysisState] = {
    "reported": ImpactAnalysisState.IN_TRIAGE,  # matched by version, nobody has looked yet
    "active": ImpactAnalysisState.EXPLOITABLE,  # a curator confirmed it affects the file
    "cleared": ImpactAnalysisState.NOT_AFFECTED,  # it does not apply to this build
    "mitigated": ImpactAnalysisState.RESOLVED,  # patched in this build
    "disputed": ImpactAnalysisState.FALSE_POSITIVE,  # the CVE itself is disputed
    "logged": ImpactAnalysisState.IN_TRIAGE,  # recorded for tracking, not assessed
}
_NVD = "https://nvd.nist.gov/vuln/detail/"
_URL_TOKEN = re.compile(r"/t/[^/]+/")
_URL_PASSWORD = re.compile(r"://[^/@]+@")


# --- the input ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SbomFile:
    """One file a package installs (from its paths.json)."""

    path: str
    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class SbomPackage:
    """One conda package as a BOM lists it."""

    name: str
    version: str
    build: str
    subdir: str | None = None
    filename: str | None = None
    #: the channel's name for the PURL (``conda-forge``, ``main``, an owner on a server)
    channel: str | None = None
    sha256: str | None = None
    md5: str | None = None
    license: str | None = None
    depends: tuple[str, ...] = ()
    summary: str | None = None
    homepage: str | None = None
    dev_url: str | None = None
    doc_url: str | None = None
    #: where the file can be downloaded (tokens are removed)
    url: str | None = None
    files: tuple[SbomFile, ...] = ()

    @classmethod
    def from_record(
        cls,
        record: Mapping[str, Any],
        *,
        channel: str | None = None,
        about: Mapping[str, Any] | None = None,
        url: str | None = None,
    ) -> SbomPackage:
        """From a repodata / ``conda-meta`` record (index.json plus hashes and ``fn``);
        ``about`` adds summary and URLs (about.json, or a server's stored facts)."""
        about = about or {}
        filename = record.get("fn") or _filename(record)
        return cls(
            name=str(record["name"]),
            version=str(record["version"]),
            build=str(record.get("build", "")),
            subdir=record.get("subdir"),
            filename=filename,
            channel=channel,
            sha256=record.get("sha256") or None,
            md5=record.get("md5") or None,
            license=record.get("license") or about.get("license") or None,
            depends=tuple(str(d) for d in record.get("depends") or ()),
            summary=about.get("summary") or None,
            homepage=about.get("home") or None,
            dev_url=about.get("dev_url") or None,
            doc_url=about.get("doc_url") or None,
            url=public_url(url or record.get("url") or "") or None,
        )

    @classmethod
    def from_contents(
        cls, contents: PackageContents, *, channel: str | None = None, with_files: bool = False
    ) -> SbomPackage:
        """From a package file read by :func:`ophis.core.package_file.read_package`."""
        record = contents.repodata_record()
        record["fn"] = contents.filename
        files = tuple(_file(entry) for entry in contents.paths) if with_files else ()
        package = cls.from_record(record, channel=channel, about=contents.about)
        return replace(package, files=files)

    @classmethod
    def from_prefix_record(cls, record: Any, channel: str | None = None) -> SbomPackage:
        """From an installed package's ``conda-meta`` record, as ``rattler.PrefixRecord``
        reads it (hashes are bytes there)."""
        return cls(
            name=record.name.normalized,
            version=str(record.version),
            build=str(record.build),
            subdir=str(record.subdir) or None,
            filename=str(record.file_name) or None,
            channel=channel,
            sha256=_hex(record.sha256),
            md5=_hex(record.md5),
            license=record.license or None,
            depends=tuple(str(spec) for spec in record.depends or ()),
            url=public_url(str(record.url)) or None,
        )

    @property
    def package_type(self) -> str | None:
        """``conda`` or ``tar.bz2``, the PURL's ``type`` qualifier."""
        name = self.filename or ""
        if name.endswith(".conda"):
            return "conda"
        return "tar.bz2" if name.endswith(".tar.bz2") else None

    @property
    def purl(self) -> PackageURL:
        qualifiers = {
            "build": self.build or None,
            "channel": self.channel,
            "subdir": self.subdir,
            "type": self.package_type,
        }
        return PackageURL(
            type="conda",
            name=self.name,
            version=self.version,
            qualifiers={k: v for k, v in qualifiers.items() if v},
        )

    @property
    def ref(self) -> str:
        """The component's bom-ref: its PURL (unique within one BOM)."""
        return self.purl.to_string()


@dataclass(frozen=True)
class Rating:
    """One CVSS rating of a vulnerability."""

    score: float | None
    vector: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class KnownVulnerability:
    """A vulnerability known to affect one package (``name``, ``version``; ``sha256``
    narrows it to one file when given), with the curator's status of it."""

    id: str
    name: str
    version: str
    status: str = "reported"
    reason: str | None = None
    summary: str | None = None
    ratings: tuple[Rating, ...] = ()
    aliases: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    sha256: str | None = None

    @classmethod
    def from_finding(cls, finding: Any, status: str = "reported") -> KnownVulnerability:
        """From a :func:`ophis.security.cve.match` finding (a feed match has no curator,
        so its status is ``reported``)."""
        vuln = finding.vulnerability
        ratings = tuple(_rating(score) for score in getattr(vuln, "scores", None) or ())
        if not ratings and getattr(vuln, "score", None) is not None:
            ratings = (Rating(float(vuln.score), severity=getattr(vuln, "severity", None)),)
        return cls(
            id=str(vuln.id),
            name=str(finding.name),
            version=str(finding.version),
            status=status,
            summary=getattr(vuln, "summary", None) or None,
            ratings=ratings,
            aliases=tuple(getattr(vuln, "aliases", None) or ()),
            references=tuple(_reference_url(r) for r in getattr(vuln, "references", None) or ()),
        )

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> KnownVulnerability:
        """From one finding of the server's API (``POST /api/cves/audit``) or of
        ``findings_for_file``, with ``name``/``version`` added for the latter."""
        ratings = tuple(_rating(score) for score in item.get("scores") or ())
        if not ratings and item.get("score") is not None:
            ratings = (Rating(float(item["score"]), item.get("vector"), item.get("severity")),)
        return cls(
            id=str(item["id"]),
            name=str(item["name"]),
            version=str(item["version"]),
            status=str(item.get("status") or "reported"),
            reason=item.get("reason") or None,
            summary=item.get("summary") or None,
            ratings=ratings,
            aliases=tuple(item.get("aliases") or ()),
            references=tuple(item.get("references") or ()),
            sha256=item.get("sha256") or None,
        )

    @property
    def score(self) -> float | None:
        scores = [r.score for r in self.ratings if r.score is not None]
        return max(scores) if scores else None

    def affects(self, package: SbomPackage) -> bool:
        if (self.name, self.version) != (package.name, package.version):
            return False
        return self.sha256 is None or package.sha256 in (None, self.sha256)


def severity_of(score: float | None) -> str:
    """CVSS's qualitative rating of a base score (none, low, medium, high, critical)."""
    return "unknown" if score is None else cve.severity_of(score)


# --- the BOMs -----------------------------------------------------------------------------


def package_bom(package: SbomPackage, vulnerabilities: Iterable[KnownVulnerability] = ()) -> Bom:
    """The BOM of one package file: the package as the main component, what it depends on
    (its ``depends`` specs, unresolved: components with the spec as a property), its files."""
    main = _component(package, ComponentType.LIBRARY)
    bom = _new_bom(main)
    required = _unique(_requirement(spec) for spec in package.depends)
    for component in required:
        bom.components.add(component)
        bom.register_dependency(component)
    for entry in package.files:
        bom.components.add(_file_component(package, entry))
    bom.register_dependency(main, required)
    _add_vulnerabilities(bom, [package], vulnerabilities)
    return bom


def environment_bom(
    name: str,
    packages: Sequence[SbomPackage],
    vulnerabilities: Iterable[KnownVulnerability] = (),
) -> Bom:
    """The BOM of an environment: ``name`` is the main component, every installed package a
    component, and a package depends on the installed packages its specs name (virtual
    packages such as ``__glibc`` are not installed, so not listed)."""
    root = Component(
        type=ComponentType.APPLICATION,
        name=name,
        bom_ref=f"environment:{name}",
        description="a conda environment",
    )
    bom = _new_bom(root)
    by_name = {p.name: p for p in packages}
    components = {p.name: _component(p, ComponentType.LIBRARY) for p in packages}
    for component in components.values():
        bom.components.add(component)
    bom.register_dependency(root, list(components.values()))
    for package in packages:
        wanted = {spec_name(spec) for spec in package.depends} & by_name.keys()
        wanted.discard(package.name)
        bom.register_dependency(components[package.name], [components[n] for n in sorted(wanted)])
    _add_vulnerabilities(bom, packages, vulnerabilities)
    return bom


def to_json(bom: Bom) -> str:
    """The BOM as CycloneDX 1.6 JSON."""
    return JsonV1Dot6(bom).output_as_string(indent=2)


def _new_bom(main: Component) -> Bom:
    bom = Bom()
    bom.metadata.component = main
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="ophis", version=__version__)
    )
    return bom


def _component(package: SbomPackage, kind: ComponentType) -> Component:
    hashes = []
    if package.sha256:
        hashes.append(HashType(alg=HashAlgorithm.SHA_256, content=package.sha256))
    if package.md5:
        hashes.append(HashType(alg=HashAlgorithm.MD5, content=package.md5))
    properties = [Property(name="conda:build", value=package.build)] if package.build else []
    if package.filename:
        properties.append(Property(name="conda:filename", value=package.filename))
    return Component(
        type=kind,
        name=package.name,
        version=package.version,
        bom_ref=package.ref,
        purl=package.purl,
        hashes=hashes,
        licenses=[_license(package.license)] if package.license else [],
        description=package.summary,
        external_references=_links(package),
        properties=properties,
    )


def _requirement(spec: str) -> Component:
    """A dependency of a package file: a name and a version range, not yet a build."""
    name = spec_name(spec)
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        bom_ref=f"requirement:{spec}",
        purl=PackageURL(type="conda", name=name),
        scope=ComponentScope.REQUIRED,
        properties=[Property(name="conda:spec", value=spec)],
    )


def _file_component(package: SbomPackage, entry: SbomFile) -> Component:
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=entry.sha256)] if entry.sha256 else []
    return Component(
        type=ComponentType.FILE,
        name=entry.path,
        bom_ref=f"{package.ref}#{entry.path}",
        hashes=hashes,
    )


def _license(text: str) -> License:
    """An SPDX id or expression when it is one (``BSD 3-Clause`` stays a name)."""
    spdx_id = fixup_id(text)
    if spdx_id:
        return DisjunctiveLicense(id=spdx_id)
    if is_expression(text):
        return LicenseExpression(text)
    return DisjunctiveLicense(name=text)


def _links(package: SbomPackage) -> list[ExternalReference]:
    wanted = (
        (ExternalReferenceType.WEBSITE, package.homepage),
        (ExternalReferenceType.VCS, package.dev_url),
        (ExternalReferenceType.DOCUMENTATION, package.doc_url),
        (ExternalReferenceType.DISTRIBUTION, package.url),
    )
    links = []
    for kind, url in wanted:
        if url and _is_uri(url):
            links.append(ExternalReference(type=kind, url=XsUri(url)))
    return links


# --- vulnerabilities ----------------------------------------------------------------------


def _add_vulnerabilities(
    bom: Bom, packages: Sequence[SbomPackage], known: Iterable[KnownVulnerability]
) -> None:
    """One entry per (vulnerability, package file): each has its own curator status."""
    for vuln in known:
        for package in packages:
            if vuln.affects(package):
                bom.vulnerabilities.add(_vulnerability(vuln, package))


def _vulnerability(vuln: KnownVulnerability, package: SbomPackage) -> Vulnerability:
    state = CURATOR_STATES.get(vuln.status, ImpactAnalysisState.IN_TRIAGE)
    detail = f"{vuln.status}: {vuln.reason}" if vuln.reason else vuln.status
    return Vulnerability(
        bom_ref=f"{vuln.id}#{package.ref}",
        id=vuln.id,
        source=VulnerabilitySource(name="NVD", url=XsUri(_NVD + vuln.id))
        if vuln.id.startswith("CVE-")
        else None,
        references=[
            VulnerabilityReference(id=alias, source=_source_of(alias))
            for alias in vuln.aliases
            if alias != vuln.id
        ],
        ratings=[_cdx_rating(r) for r in vuln.ratings],
        description=vuln.summary,
        advisories=[VulnerabilityAdvisory(url=XsUri(u)) for u in vuln.references if _is_uri(u)],
        analysis=VulnerabilityAnalysis(state=state, detail=detail),
        affects=[
            BomTarget(
                ref=package.ref,
                versions=[
                    BomTargetVersionRange(
                        version=package.version, status=ImpactAnalysisAffectedStatus.AFFECTED
                    )
                ],
            )
        ],
    )


def _cdx_rating(rating: Rating) -> VulnerabilityRating:
    method = VulnerabilityScoreSource.get_from_vector(rating.vector) if rating.vector else None
    severity = rating.severity or severity_of(rating.score)
    return VulnerabilityRating(
        score=Decimal(str(rating.score)) if rating.score is not None else None,
        severity=VulnerabilitySeverity(severity.lower())
        if severity.lower() in VulnerabilitySeverity._value2member_map_
        else VulnerabilitySeverity.UNKNOWN,
        method=method,
        vector=rating.vector,
    )


def _source_of(alias: str) -> VulnerabilitySource:
    if alias.startswith("CVE-"):
        return VulnerabilitySource(name="NVD", url=XsUri(_NVD + alias))
    if alias.startswith("GHSA-"):
        return VulnerabilitySource(
            name="GitHub", url=XsUri(f"https://github.com/advisories/{alias}")
        )
    return VulnerabilitySource(name=alias.split("-", 1)[0])


def _rating(score: Any) -> Rating:
    """A rating from a feed's score (a mapping or an object with score/vector fields)."""

    def field(*names: str) -> Any:
        for name in names:
            value = score.get(name) if isinstance(score, Mapping) else getattr(score, name, None)
            if value is not None:
                return value
        return None

    value = field("base", "base_score", "score")
    vector = field("vector", "vector_string", "vectorString")
    return Rating(
        score=float(value) if value is not None else None,
        vector=str(vector) if vector and str(vector).startswith("CVSS:") else None,
        severity=field("severity", "base_severity"),
    )


def _reference_url(reference: Any) -> str:
    if isinstance(reference, Mapping):
        return str(reference.get("url", ""))
    return str(getattr(reference, "url", reference))


# --- small helpers ------------------------------------------------------------------------


def _filename(record: Mapping[str, Any]) -> str | None:
    url = str(record.get("url") or "")
    return url.rsplit("/", 1)[-1] or None


def _hex(value: bytes | str | None) -> str | None:
    if not value:
        return None
    return value.hex() if isinstance(value, bytes) else str(value)


def _file(entry: Mapping[str, Any]) -> SbomFile:
    size = entry.get("size_in_bytes")
    return SbomFile(str(entry["_path"]), entry.get("sha256"), int(size) if size else None)


def public_url(url: str) -> str:
    """A channel URL without its ``/t/<token>/`` segment or ``user:password@``."""
    return _URL_PASSWORD.sub("://", _URL_TOKEN.sub("/", url))


def _is_uri(url: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url)) and " " not in url


def _unique(components: Iterable[Component]) -> list[Component]:
    seen: dict[str, Component] = {}
    for component in components:
        seen.setdefault(str(component.bom_ref), component)
    return list(seen.values())
