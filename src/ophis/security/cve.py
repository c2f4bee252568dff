"""Known vulnerabilities: OSV, CVE JSON 5 (cve.org's records) and NVD API 2.0 records read
into one shape, mapped to conda package names and conda version specs, and matched against
packages.

Pure apart from :func:`load_feed`, which reads the files a user downloaded (nothing here
touches the network). A feed names packages by PURL (``pkg:conda/zlib``, ``pkg:pypi/PyYAML``),
by OSV ecosystem (``PyPI``), by CPE product or by PyPI ``packageName``; names whose conda
package is called differently go through the curated map ``data/names.json``. Every range
becomes one conda version spec string (``">=1.2.0,<1.2.13|==1.3"``), kept as published and
matched by py-rattler in conda's own version order (see :func:`in_conda_order`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cvss import CVSS3, CVSS4
from rattler import Version, VersionSpec

from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError

STATUSES = ("reported", "active", "cleared", "mitigated", "disputed", "logged")
SEVERITIES = ("none", "low", "medium", "high", "critical")


class FeedError(OphisError):
    """A vulnerability feed file that cannot be read as OSV or CVE JSON 5."""

    exception_name = "VulnerabilityFeedError"


@dataclass(frozen=True)
class Score:
    #: the CVSS version: "3.0", "3.1" or "4.0"
    version: str
    vector: str
    base: float


@dataclass(frozen=True)
class AffectedRange:
    #: "conda" or "pypi": where the record said the package lives
    ecosystem: str
    #: the conda package name (after the curated name map)
    name: str
    #: a conda version spec string
    spec: str


@dataclass(frozen=True)
class Vulnerability:
    id: str
    aliases: tuple[str, ...]
    summary: str
    published: str | None
    modified: str | None
    scores: tuple[Score, ...]
    affected: tuple[AffectedRange, ...]
    references: tuple[str, ...]

    @property
    def score(self) -> float | None:
        """The highest base score of any CVSS version the record gives."""
        return max((s.base for s in self.scores), default=None)

    @property
    def severity(self) -> str:
        return severity_of(self.score)


@dataclass(frozen=True)
class Finding:
    vulnerability: Vulnerability
    name: str
    version: str


def severity_of(score: float | None) -> str:
    """CVSS's qualitative rating (the same bands in v3 and v4)."""
    if score is None or score <= 0:
        return "none"
    if score < 4:
        return "low"
    if score < 7:
        return "medium"
    if score < 9:
        return "high"
    return "critical"


# --- names ---------------------------------------------------------------------------------


@functools.cache
def _name_map() -> dict[str, dict[str, str]]:
    text = resources.files("ophis.security").joinpath("data/names.json").read_text("utf-8")
    data = json.loads(text)
    return {
        "pypi": {canonical_pypi(k): v for k, v in data["pypi"].items()},
        "cpe": {k.lower(): v for k, v in data["cpe"].items()},
    }


def canonical_pypi(name: str) -> str:
    """PEP 503's normal form, which OSV's PyPI names and PURLs may not use."""
    return re.sub(r"[-_.]+", "-", name).lower()


def conda_name(ecosystem: str, name: str) -> str:
    """The conda package name of a package named ``name`` in ``ecosystem``
    (``pypi``, ``conda`` or ``cpe`` for a CPE's ``vendor:product``)."""
    if ecosystem == DistributionType.PYPI:
        key = canonical_pypi(name)
        return _name_map()["pypi"].get(key, key)
    if ecosystem == "cpe":
        key = name.lower()
        return _name_map()["cpe"].get(key, key.rsplit(":", 1)[-1])
    return name.lower()


def _from_purl(purl: str) -> tuple[str, str] | None:
    """(ecosystem, conda name) of a ``pkg:conda/...`` or ``pkg:pypi/...`` PURL, else None."""
    match = re.match(r"^pkg:(conda|pypi)/(?:[^/@?#]+/)?([^/@?#]+)", purl.strip(), re.IGNORECASE)
    if match is None:
        return None
    ecosystem = match.group(1).lower()
    return ecosystem, conda_name(ecosystem, match.group(2))


# --- scores --------------------------------------------------------------------------------


def score_of_vector(vector: str) -> Score | None:
    """A score computed from a CVSS v3.x or v4.0 vector (OSV gives only vectors); None for a
    vector the cvss library does not accept (a feed may carry v2 vectors: ignored)."""
    vector = vector.strip()
    try:
        if vector.startswith("CVSS:4.0/"):
            return Score("4.0", vector, float(CVSS4(vector).base_score))
        if vector.startswith("CVSS:3."):
            return Score(vector[5:8], vector, float(CVSS3(vector).scores()[0]))
    except Exception:  # the cvss library raises several unrelated types on bad vectors
        return None
    return None


# --- OSV -----------------------------------------------------------------------------------


def _osv_spec(entry: dict[str, Any]) -> str | None:
    """One conda spec for an OSV ``affected`` entry: its ECOSYSTEM/SEMVER ranges (events in
    order) and its explicit ``versions``, joined with ``|``."""
    parts: list[str] = []
    for found in entry.get("ranges") or []:
        if found.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not versions
        parts.extend(_osv_intervals(found.get("events") or []))
    parts.extend(f"=={v}" for v in entry.get("versions") or [] if _is_version(v))
    return "|".join(dict.fromkeys(parts)) or None


def _osv_intervals(events: list[dict[str, str]]) -> Iterator[str]:
    start: str | None = None
    for event in events:
        if "introduced" in event:
            start = event["introduced"]
        elif start is not None and ("fixed" in event or "limit" in event):
            yield _interval(start, "<", event.get("fixed") or event["limit"])
            start = None
        elif start is not None and "last_affected" in event:
            yield _interval(start, "<=", event["last_affected"])
            start = None
    if start is not None:
        yield "*" if start in ("0", "") else f">={start}"


def _interval(start: str, op: str, end: str) -> str:
    return f"{op}{end}" if start in ("0", "") else f">={start},{op}{end}"


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except Exception:
        return False
    return True


def _osv_affected(record: dict[str, Any]) -> Iterator[AffectedRange]:
    for entry in record.get("affected") or []:
        package = entry.get("package") or {}
        where = _from_purl(package.get("purl") or "")
        if where is None and str(package.get("ecosystem", "")).lower() == DistributionType.PYPI:
            where = (
                DistributionType.PYPI,
                conda_name(DistributionType.PYPI, package.get("name", "")),
            )
        if where is None and str(package.get("ecosystem", "")).lower() == DistributionType.CONDA:
            where = (
                DistributionType.CONDA,
                conda_name(DistributionType.CONDA, package.get("name", "")),
            )
        spec = _osv_spec(entry)
        if where is not None and spec is not None:
            yield AffectedRange(where[0], where[1], spec)


def _osv_scores(record: dict[str, Any]) -> tuple[Score, ...]:
    vectors = [s.get("score", "") for s in record.get("severity") or []]
    for entry in record.get("affected") or []:
        vectors.extend(s.get("score", "") for s in entry.get("severity") or [])
    scores = (score_of_vector(v) for v in dict.fromkeys(vectors))
    return tuple(s for s in scores if s is not None)


def from_osv(record: dict[str, Any]) -> Vulnerability:
    summary = record.get("summary") or (record.get("details") or "").strip().split("\n")[0]
    return Vulnerability(
        id=record["id"],
        aliases=tuple(record.get("aliases") or ()),
        summary=summary,
        published=record.get("published"),
        modified=record.get("modified"),
        scores=_osv_scores(record),
        affected=tuple(dict.fromkeys(_osv_affected(record))),
        references=tuple(r["url"] for r in record.get("references") or [] if r.get("url")),
    )


# --- CVE JSON 5 (cve.org, NVD) -------------------------------------------------------------

_CVSS_KEYS = {"cvssV4_0": "4.0", "cvssV3_1": "3.1", "cvssV3_0": "3.0"}


def _cve5_containers(record: dict[str, Any]) -> list[dict[str, Any]]:
    containers = record.get("containers") or {}
    return [containers.get("cna") or {}, *(containers.get("adp") or [])]


def _cve5_scores(record: dict[str, Any]) -> tuple[Score, ...]:
    scores = {}
    for container in _cve5_containers(record):
        for metric in container.get("metrics") or []:
            for key, version in _CVSS_KEYS.items():
                data = metric.get(key)
                if data and "baseScore" in data:
                    vector = data.get("vectorString", "")
                    scores[vector] = Score(version, vector, float(data["baseScore"]))
    return tuple(scores.values())


def _cve5_where(entry: dict[str, Any]) -> tuple[str, str] | None:
    for purl in [entry.get("packageURL") or "", *(entry.get("purls") or [])]:
        if found := _from_purl(purl):
            return found
    if "pypi.org" in (entry.get("collectionURL") or "") and entry.get("packageName"):
        return DistributionType.PYPI, conda_name(DistributionType.PYPI, entry["packageName"])
    for cpe in entry.get("cpes") or []:
        parts = cpe.split(":")
        if len(parts) > 4:
            return DistributionType.CONDA, conda_name("cpe", f"{parts[3]}:{parts[4]}")
    vendor, product = entry.get("vendor") or "", entry.get("product") or ""
    if product and product.lower() != "n/a":
        return DistributionType.CONDA, conda_name("cpe", f"{vendor}:{product}")
    return None


def _cve5_spec(entry: dict[str, Any]) -> str | None:
    parts = []
    for found in entry.get("versions") or []:
        if found.get("status") != "affected":
            continue
        start = str(found.get("version") or "")
        start = "0" if start in ("*", "n/a", "unspecified") else start
        if found.get("lessThan"):
            parts.append(_interval(start, "<", found["lessThan"]))
        elif found.get("lessThanOrEqual"):
            parts.append(_interval(start, "<=", found["lessThanOrEqual"]))
        elif _is_version(start) and start != "0":
            parts.append(f"=={start}")
    if not parts and entry.get("defaultStatus") == "affected":
        parts.append("*")
    return "|".join(dict.fromkeys(parts)) or None


def from_cve5(record: dict[str, Any]) -> Vulnerability:
    metadata = record.get("cveMetadata") or {}
    cna = _cve5_containers(record)[0]
    affected = []
    for container in _cve5_containers(record):
        for entry in container.get("affected") or []:
            where, spec = _cve5_where(entry), _cve5_spec(entry)
            if where is not None and spec is not None:
                affected.append(AffectedRange(where[0], where[1], spec))
    english = [d["value"] for d in cna.get("descriptions") or [] if d.get("lang", "en")[:2] == "en"]
    return Vulnerability(
        id=metadata["cveId"],
        aliases=(),
        summary=cna.get("title") or (english[0] if english else ""),
        published=metadata.get("datePublished"),
        modified=metadata.get("dateUpdated"),
        scores=_cve5_scores(record),
        affected=tuple(dict.fromkeys(affected)),
        references=tuple(r["url"] for r in cna.get("references") or [] if r.get("url")),
    )


# --- NVD API 2.0 (nvd.nist.gov's JSON: CPE configurations, cvssMetricV31 ...) ------------

_NVD_METRICS = {"cvssMetricV40": "4.0", "cvssMetricV31": "3.1", "cvssMetricV30": "3.0"}
_ANY_VERSION = ("*", "-", "")


def _nvd_scores(cve: dict[str, Any]) -> tuple[Score, ...]:
    scores = {}
    for key, version in _NVD_METRICS.items():
        for metric in (cve.get("metrics") or {}).get(key) or []:
            data = metric.get("cvssData") or {}
            if "baseScore" in data:
                vector = data.get("vectorString", "")
                scores[vector] = Score(version, vector, float(data["baseScore"]))
    return tuple(scores.values())


def _nvd_match(entry: dict[str, Any]) -> AffectedRange | None:
    """One vulnerable ``cpeMatch``: its CPE's product, its version or version bounds."""
    parts = str(entry.get("criteria", "")).split(":")
    if not entry.get("vulnerable", True) or len(parts) < 6 or parts[2] != "a":
        return None
    bounds = [
        f"{op}{entry[key]}"
        for key, op in (
            ("versionStartIncluding", ">="),
            ("versionStartExcluding", ">"),
            ("versionEndIncluding", "<="),
            ("versionEndExcluding", "<"),
        )
        if entry.get(key)
    ]
    if not bounds:
        bounds = ["*" if parts[5] in _ANY_VERSION else f"=={parts[5]}"]
    return AffectedRange(
        DistributionType.CONDA, conda_name("cpe", f"{parts[3]}:{parts[4]}"), ",".join(bounds)
    )


def from_nvd(cve: dict[str, Any]) -> Vulnerability:
    affected = []
    for configuration in cve.get("configurations") or []:
        for node in configuration.get("nodes") or []:
            affected.extend(filter(None, map(_nvd_match, node.get("cpeMatch") or [])))
    english = [d["value"] for d in cve.get("descriptions") or [] if d.get("lang", "en") == "en"]
    return Vulnerability(
        id=cve["id"],
        aliases=(),
        summary=english[0] if english else "",
        published=cve.get("published"),
        modified=cve.get("lastModified"),
        scores=_nvd_scores(cve),
        affected=_joined(affected),
        references=tuple(r["url"] for r in cve.get("references") or [] if r.get("url")),
    )


def _joined(ranges: list[AffectedRange]) -> tuple[AffectedRange, ...]:
    """One range per (ecosystem, name): the specs joined with ``|``."""
    specs: dict[tuple[str, str], list[str]] = {}
    for found in ranges:
        specs.setdefault((found.ecosystem, found.name), []).append(found.spec)
    return tuple(
        AffectedRange(ecosystem, name, "|".join(dict.fromkeys(parts)))
        for (ecosystem, name), parts in specs.items()
    )


# --- stored form ---------------------------------------------------------------------------


def to_json(vulnerability: Vulnerability) -> dict[str, Any]:
    """A record as plain JSON (what a database keeps), read back by :func:`from_json`."""
    return dataclasses.asdict(vulnerability)


def from_json(data: dict[str, Any]) -> Vulnerability:
    return Vulnerability(
        id=data["id"],
        aliases=tuple(data.get("aliases") or ()),
        summary=data.get("summary") or "",
        published=data.get("published"),
        modified=data.get("modified"),
        scores=tuple(Score(**s) for s in data.get("scores") or ()),
        affected=tuple(AffectedRange(**a) for a in data.get("affected") or ()),
        references=tuple(data.get("references") or ()),
    )


# --- files ---------------------------------------------------------------------------------


def parse_records(data: Any, source: str) -> list[Vulnerability]:
    """The records of one decoded JSON document, its format told by its content."""
    items = data if isinstance(data, list) else [data]
    found = []
    for item in items:
        if isinstance(item, dict) and item.get("dataType") == "CVE_RECORD":
            found.append(from_cve5(item))
        elif isinstance(item, dict) and "id" in item and ("affected" in item or "modified" in item):
            found.append(from_osv(item))
        elif isinstance(item, dict) and isinstance(item.get("cve"), dict):
            found.append(from_nvd(item["cve"]))  # an NVD API 2.0 entry
        elif isinstance(item, dict) and isinstance(item.get("vulnerabilities"), list):
            found.extend(parse_records(item["vulnerabilities"], source))  # OSV or NVD batch
        else:
            raise FeedError(
                f"{source}: a record is neither OSV, CVE JSON 5 nor NVD JSON (no 'id' and"
                " 'affected', no 'dataType': 'CVE_RECORD', no 'cve').",
                "Give OSV JSON (one record or a list), CVE JSON 5 records or NVD API 2.0"
                " answers, as osv.dev, cve.org and nvd.nist.gov publish them.",
            )
    return found


def load_feed(path: Path) -> list[Vulnerability]:
    """The records of a feed file, or of every ``*.json`` file under a directory (sorted, so
    that a later file's record of the same id wins predictably)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
    elif path.is_file():
        files = [path]
    else:
        raise FeedError(f"{path}: no such file or directory.", "Give a feed file or directory.")
    found: dict[str, Vulnerability] = {}
    for file in files:
        for vulnerability in _load_file(file):
            found[vulnerability.id] = vulnerability
    return list(found.values())


def _load_file(path: Path) -> list[Vulnerability]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise FeedError(
            f"{path}: not readable JSON ({error}).", "Download the feed file again."
        ) from error
    try:
        return parse_records(data, str(path))
    except FeedError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise FeedError(
            f"{path}: a record lacks a field or has one of the wrong type ({error!r}).",
            "Check that the file is an unmodified OSV or CVE JSON 5 download.",
        ) from error


# --- matching ------------------------------------------------------------------------------


def match(vulns: Iterable[Vulnerability], packages: Iterable[tuple[str, str]]) -> list[Finding]:
    """Every (vulnerability, package) pair where the package's version is in one of the
    vulnerability's ranges for its name. Vulnerabilities are indexed by name and each
    distinct version string is parsed once, so the cost is the number of candidate pairs."""
    index = build_index(vulns)
    versions: dict[str, Version | None] = {}
    findings = []
    for name, version in packages:
        candidates = index.get(name.lower())
        if not candidates:
            continue
        parsed = versions.get(version, False)
        if parsed is False:
            parsed = versions[version] = _parse_version(version)
        if parsed is None:
            continue
        seen: set[str] = set()
        for vulnerability, spec in candidates:
            if vulnerability.id not in seen and spec.matches(parsed):
                seen.add(vulnerability.id)
                findings.append(Finding(vulnerability, name, version))
    return findings


def build_index(
    vulns: Iterable[Vulnerability],
) -> dict[str, list[tuple[Vulnerability, VersionSpec]]]:
    """Conda name -> (vulnerability, parsed spec); a spec rattler cannot parse is left out
    (a feed's odd version strings must not stop the rest from matching)."""
    specs: dict[str, VersionSpec | None] = {}
    index: dict[str, list[tuple[Vulnerability, VersionSpec]]] = {}
    for vulnerability in vulns:
        for affected in vulnerability.affected:
            spec = specs.get(affected.spec, False)
            if spec is False:
                spec = specs[affected.spec] = _parse_spec(affected.spec)
            if spec is not None:
                index.setdefault(affected.name, []).append((vulnerability, spec))
    return index


def _parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except Exception:
        return None


def _parse_spec(text: str) -> VersionSpec | None:
    try:
        return VersionSpec(in_conda_order(text))
    except Exception:
        return None


def in_conda_order(spec: str) -> str:
    """A published range as conda's version order needs it. conda sorts letter suffixes and
    pre-releases below the bare version (``1.1.1a < 1.1.1``, ``3.0.0rc1 < 3.0.0``), where
    advisories mean them above it (OpenSSL's ``>=1.1.1,<1.1.1n``) or as part of the range
    (``>=3.0.0`` covers 3.0.0rc1): an inclusive lower bound ``>=X`` becomes ``>=Xdev`` (dev
    sorts first), and ``X`` itself is added when the upper bound is ``X`` plus letters."""
    alternatives = []
    for alternative in spec.split("|"):
        parts = [part.strip() for part in alternative.split(",")]
        lower = next((p[2:].strip() for p in parts if p.startswith(">=")), None)
        if lower is None or "+" in lower or not lower[-1:].isdigit():
            alternatives.append(alternative)
            continue
        uppers = [p.lstrip("<=").strip() for p in parts if p.startswith("<")]
        parts = [f">={lower}dev" if p.startswith(">=") else p for p in parts]
        alternatives.append(",".join(parts))
        if any(u.startswith(lower) and u[len(lower) : len(lower) + 1].isalpha() for u in uppers):
            alternatives.append(f"=={lower}")
    return "|".join(alternatives)
