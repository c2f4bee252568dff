"""Known vulnerabilities on the server: feeds imported into the database, matched against
every stored file (on import and on every upload: ongoing tracking), and the curators'
statuses per (vulnerability, file) with their history.

Matching is :func:`ophis.security.cve.match` over the stored records (each kept whole as
JSON beside its ranges). A new match starts as ``reported`` -- or with the status curators
gave the same vulnerability on a file with the same bytes -- and a re-import never touches
a match's status; a match no longer in range goes only while still ``reported``. Every
change that can hide or show a file under a channel policy ends with
:func:`ophis.server.services.trust.channel_policy.refresh_files`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, delete, insert, select
from sqlalchemy.orm import Session, selectinload

from ophis.core.distribution_types import DistributionType
from ophis.security import cve
from ophis.server.db.models import (
    Account,
    ChannelPolicy,
    File,
    FileVulnerability,
    Package,
    Release,
    Vulnerability,
    VulnerabilityRange,
    VulnerabilityStatusChange,
    utcnow,
)
from ophis.server.errors import BadRequest, NotFound
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, packages
from ophis.server.services.trust import channel_policy

REPORTED = "reported"
_READ = "api:read"


@dataclass(frozen=True)
class ImportSummary:
    records: int
    created: int
    updated: int
    matches_added: int
    matches_removed: int
    files_hidden_changed: int

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


# --- import and matching --------------------------------------------------------------------


def import_records(session: Session, records: Sequence[cve.Vulnerability]) -> ImportSummary:
    """Upsert records (by id; ranges replaced), then re-match every file; committed."""
    existing = _existing(session, [record.id for record in records])
    _insert_new(session, [record for record in records if record.id not in existing])
    with session.no_autoflush:  # one flush at the end, not one per look-up
        for record in records:
            if record.id in existing:
                _upsert(session, existing[record.id], record)
    session.flush()
    # every file, even when no record changed: matching itself may have improved
    added, removed = rematch(session)
    owners = list(session.scalars(select(ChannelPolicy.owner_id).distinct()))
    hidden = sum(channel_policy.refresh_owner(session, owner) for owner in owners)
    session.commit()
    created = sum(1 for record in records if record.id not in existing)
    return ImportSummary(len(records), created, len(records) - created, added, removed, hidden)


def _existing(session: Session, ids: list[str]) -> dict[str, Vulnerability]:
    found: dict[str, Vulnerability] = {}
    for start in range(0, len(ids), 500):
        query = (
            select(Vulnerability)
            .where(Vulnerability.id.in_(ids[start : start + 500]))
            .options(selectinload(Vulnerability.ranges))
        )
        found.update((row.id, row) for row in session.scalars(query))
    return found


def _columns(record: cve.Vulnerability) -> dict[str, Any]:
    return {
        "aliases": list(record.aliases),
        "summary": record.summary,
        "published": record.published,
        "modified": record.modified,
        "score": record.score,
        "severity": record.severity,
        "scores": [
            {"version": s.version, "vector": s.vector, "base": s.base} for s in record.scores
        ],
        "references": list(record.references),
        "record": cve.to_json(record),
        "imported_at": utcnow(),
    }


def _insert_new(session: Session, records: list[cve.Vulnerability]) -> None:
    """New records in bulk (a first import of a whole feed is mostly these)."""
    for start in range(0, len(records), 1000):
        chunk = records[start : start + 1000]
        session.execute(insert(Vulnerability), [{"id": r.id, **_columns(r)} for r in chunk])
        ranges = [
            {"vulnerability_id": r.id, "ecosystem": a.ecosystem, "name": a.name, "spec": a.spec}
            for r in chunk
            for a in r.affected
        ]
        if ranges:
            session.execute(insert(VulnerabilityRange), ranges)


def _upsert(session: Session, row: Vulnerability, record: cve.Vulnerability) -> bool:
    """Update a stored record; False when it is unchanged (a re-import)."""
    if cve.from_json(row.record) == record:
        return False
    for key, value in _columns(record).items():
        setattr(row, key, value)
    row.ranges = [
        VulnerabilityRange(ecosystem=a.ecosystem, name=a.name, spec=a.spec) for a in record.affected
    ]
    return True


def _file_key(name: str, distribution_type: str) -> str:
    """The conda name a file's package answers to (a wheel's project through the name map)."""
    if distribution_type == DistributionType.PYPI:
        return cve.conda_name(DistributionType.PYPI, name)
    return name.lower()


def _records(session: Session, names: Iterable[str] | None = None) -> list[cve.Vulnerability]:
    query = select(Vulnerability.record)
    if names is not None:
        wanted = select(VulnerabilityRange.vulnerability_id).where(
            VulnerabilityRange.name.in_(list(names))
        )
        query = query.where(Vulnerability.id.in_(wanted))
    return [cve.from_json(record) for record in session.scalars(query)]


def _file_rows(session: Session, file_ids: list[int] | None = None) -> list[Any]:
    query = (
        select(File.id, File.sha256, File.distribution_type, Package.name, Release.version)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
    )
    if file_ids is not None:
        query = query.where(File.id.in_(file_ids))
    return list(session.execute(query))


def rematch(session: Session, file_ids: list[int] | None = None) -> tuple[int, int]:
    """Match files (all, or some) against every stored record and bring the matches up to
    date (flushed): (added, removed)."""
    rows = _file_rows(session, file_ids)
    keys = {row.id: (_file_key(row.name, row.distribution_type), row.version) for row in rows}
    names = {name for name, _version in keys.values()}
    records = _records(session, names) if file_ids is not None else _records(session)
    wanted = _wanted_matches(records, keys)
    query = select(
        FileVulnerability.id,
        FileVulnerability.vulnerability_id,
        FileVulnerability.file_id,
        FileVulnerability.status,
    )
    if file_ids is not None:
        query = query.where(FileVulnerability.file_id.in_(file_ids))
    have = {(v, f): (i, s) for i, v, f, s in session.execute(query)}
    new = [pair for pair in wanted if pair not in have]
    stale = [i for pair, (i, status) in have.items() if pair not in wanted and status == REPORTED]
    for start in range(0, len(stale), 1000):
        chunk = stale[start : start + 1000]
        session.execute(delete(FileVulnerability).where(FileVulnerability.id.in_(chunk)))
    if new:
        _insert_matches(session, new, {row.id: row.sha256 for row in rows})
    session.flush()
    return len(new), len(stale)


def _wanted_matches(
    records: list[cve.Vulnerability], keys: dict[int, tuple[str, str]]
) -> set[tuple[str, int]]:
    """(vulnerability id, file id) pairs; each distinct (name, version) is matched once."""
    names = {a.name for record in records for a in record.affected}
    wanted = set()
    by_version: dict[tuple[str, str], list[int]] = {}
    for file_id, key in keys.items():
        if key[0] in names:
            by_version.setdefault(key, []).append(file_id)
    findings = cve.match(records, by_version)
    for finding in findings:
        for file_id in by_version[(finding.name, finding.version)]:
            wanted.add((finding.vulnerability.id, file_id))
    return wanted


def _insert_matches(session: Session, new: list[tuple[str, int]], sha256: dict[int, str]) -> None:
    inherited = _curated_by_bytes(session, {sha256[f] for _v, f in new})
    now = utcnow()
    values = []
    for vulnerability, file_id in new:
        status, reason = inherited.get((sha256[file_id], vulnerability), (REPORTED, ""))
        values.append(
            {
                "vulnerability_id": vulnerability,
                "file_id": file_id,
                "status": status,
                "reason": reason,
                "updated_at": now,
            }
        )
    for start in range(0, len(values), 1000):
        session.execute(insert(FileVulnerability), values[start : start + 1000])


def _curated_by_bytes(
    session: Session, digests: set[str]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(sha256, vulnerability) -> (status, reason) curators gave on files with those bytes."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for query in _statuses_by_bytes(digests):
        query = query.where(FileVulnerability.status != REPORTED)
        for digest, vulnerability, status, reason in session.execute(query):
            found[(digest, vulnerability)] = (status, f"as on a file with the same bytes: {reason}")
    return found


def _statuses_by_bytes(digests: set[str]) -> Iterator[Any]:
    """Queries of (sha256, vulnerability, status, reason) for the files with these bytes,
    500 digests at a time, oldest change first."""
    digest_list = sorted(digests)
    for start in range(0, len(digest_list), 500):
        yield (
            select(
                File.sha256,
                FileVulnerability.vulnerability_id,
                FileVulnerability.status,
                FileVulnerability.reason,
            )
            .join(File, File.id == FileVulnerability.file_id)
            .where(File.sha256.in_(digest_list[start : start + 500]))
            .order_by(FileVulnerability.updated_at)
        )


def track_file(session: Session, row: File) -> None:
    """A step of :mod:`ophis.server.services.intake.ingest`: match a new file and apply its
    owner's policies (flushed, not committed: part of the upload's transaction). Costs one
    indexed query when no record names the file's package."""
    key = _file_key(row.release.package.name, row.distribution_type)
    if session.scalar(select(VulnerabilityRange.id).where(VulnerabilityRange.name == key).limit(1)):
        rematch(session, [row.id])
    if session.scalar(
        select(ChannelPolicy.id).where(ChannelPolicy.owner_id == row.owner_id).limit(1)
    ):
        channel_policy.refresh_files(session, [row.id])


# --- statuses -------------------------------------------------------------------------------


def set_status(
    session: Session,
    principal: Principal,
    vulnerability_id: str,
    file_id: int,
    status: str,
    reason: str,
) -> FileVulnerability:
    """A curator's decision on one (vulnerability, file), kept in the history; committed."""
    match = _visible_match(session, principal, vulnerability_id, file_id)
    authz.check_curate(session, principal, match.file.release.package)
    if status not in cve.STATUSES:
        raise BadRequest(
            f"{status!r} is not a vulnerability status.", f"Use one of: {', '.join(cve.STATUSES)}."
        )
    reason = reason.strip()
    if not reason:
        raise BadRequest("A status change needs a reason.", "Say why (e.g. 'patched in build 2').")
    session.add(
        VulnerabilityStatusChange(
            vulnerability_id=match.vulnerability_id,
            file_id=match.file_id,
            account_id=principal.account.id if principal.account else None,
            from_status=match.status,
            to_status=status,
            reason=reason,
        )
    )
    match.status, match.reason = status, reason
    match.updated_by_id = principal.account.id if principal.account else None
    match.updated_at = utcnow()
    session.flush()
    channel_policy.refresh_files(session, [match.file_id])
    session.commit()
    return match


def file_id_of(session: Session, principal: Principal, owner_login: str, basename: str) -> int:
    owner = accounts.get_account(session, owner_login)
    row = files.find_file(session, owner, basename)
    if row is None or not authz.can_read_package(session, principal, row.release.package, _READ):
        raise authz.not_found(f"{owner.login}/{basename}")
    return row.id


def _visible_match(
    session: Session, principal: Principal, vulnerability_id: str, file_id: int
) -> FileVulnerability:
    match = session.scalar(
        select(FileVulnerability).where(
            FileVulnerability.vulnerability_id == vulnerability_id,
            FileVulnerability.file_id == file_id,
        )
    )
    package = match.file.release.package if match is not None else None
    if match is None or not authz.can_read_package(session, principal, package, _READ):
        raise NotFound(
            f"{vulnerability_id} is not known to affect file {file_id}.",
            "List a vulnerability's files with GET /api/cves/<id>.",
        )
    return match


def history(session: Session, vulnerability_id: str, file_id: int) -> list[dict[str, Any]]:
    query = (
        select(VulnerabilityStatusChange)
        .where(
            VulnerabilityStatusChange.vulnerability_id == vulnerability_id,
            VulnerabilityStatusChange.file_id == file_id,
        )
        .order_by(VulnerabilityStatusChange.id)
    )
    return [
        {
            "by": change.account.login if change.account else None,
            "at": change.changed_at.isoformat(),
            "from": change.from_status,
            "to": change.to_status,
            "reason": change.reason,
        }
        for change in session.scalars(query)
    ]


# --- reading --------------------------------------------------------------------------------


def vulnerability_public(row: Vulnerability) -> dict[str, Any]:
    return {
        "id": row.id,
        "aliases": list(row.aliases),
        "summary": row.summary,
        "published": row.published,
        "modified": row.modified,
        "score": row.score,
        "severity": row.severity,
        "scores": list(row.scores),
        "affected": [
            {"ecosystem": r.ecosystem, "name": r.name, "spec": r.spec} for r in row.ranges
        ],
        "references": list(row.references),
    }


def list_vulnerabilities(
    session: Session,
    package: str | None = None,
    min_score: float | None = None,
    limit: int = 500,
) -> list[Vulnerability]:
    """Records are public knowledge: anyone may list them (which files they affect is not)."""
    query = select(Vulnerability)
    if package:
        names = {package.lower(), cve.conda_name(DistributionType.PYPI, package)}
        affecting = select(VulnerabilityRange.vulnerability_id).where(
            VulnerabilityRange.name.in_(names)
        )
        query = query.where(Vulnerability.id.in_(affecting))
    if min_score is not None:
        query = query.where(Vulnerability.score >= min_score)
    order = (Vulnerability.score.desc().nulls_last(), Vulnerability.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def get_vulnerability(session: Session, vulnerability_id: str) -> Vulnerability:
    row = session.get(Vulnerability, vulnerability_id)
    if row is None and vulnerability_id.strip():
        row = _by_alias(session, vulnerability_id.strip())
    if row is None:
        raise NotFound(
            f"No vulnerability {vulnerability_id!r} is known to this server.",
            "Check the id (CVE-..., GHSA-...), or import a feed with `ophis server cve import`.",
        )
    return row


def _by_alias(session: Session, alias: str) -> Vulnerability | None:
    """A record that lists ``alias`` (a GHSA record found by its CVE id); the JSON column is
    searched as text, then checked exactly."""
    query = select(Vulnerability).where(cast(Vulnerability.aliases, Text).contains(alias))
    return next((row for row in session.scalars(query) if alias in row.aliases), None)


def affected_files(
    session: Session, principal: Principal, vulnerability_id: str
) -> list[dict[str, Any]]:
    """The files a vulnerability affects that the caller may see, with their statuses."""
    query = (
        select(FileVulnerability, File, Package, Release, Account)
        .join(File, File.id == FileVulnerability.file_id)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .join(Account, Account.id == Package.owner_id)
        .where(FileVulnerability.vulnerability_id == vulnerability_id)
        .where(authz.readable_packages(principal, _READ))
        .order_by(Account.login, Package.name, File.basename)
    )
    curators: dict[int, bool] = {}
    found = []
    for match, row, package, release, owner in session.execute(query):
        if package.id not in curators:
            curators[package.id] = authz.can_curate(session, principal, package)
        found.append(
            {
                "owner": owner.login,
                "package": package.name,
                "version": release.version,
                "basename": row.basename,
                "file_id": row.id,
                "sha256": row.sha256,
                **_status_of(match),
                "can_curate": curators[package.id],
            }
        )
    return found


def _status_of(match: FileVulnerability) -> dict[str, Any]:
    return {
        "status": match.status,
        "reason": match.reason,
        "updated_at": match.updated_at.isoformat(),
        "updated_by": match.updated_by.login if match.updated_by else None,
    }


def findings_for_file(session: Session, file_id: int) -> list[dict[str, Any]]:
    """A file's vulnerabilities, highest score first (the caller checked it may see the
    file): id, score, severity, status, reason, summary."""
    query = (
        select(FileVulnerability, Vulnerability)
        .join(Vulnerability, Vulnerability.id == FileVulnerability.vulnerability_id)
        .where(FileVulnerability.file_id == file_id)
        .order_by(Vulnerability.score.desc().nulls_last(), Vulnerability.id)
    )
    return [
        {
            "id": vulnerability.id,
            "score": vulnerability.score,
            "severity": vulnerability.severity,
            "status": match.status,
            "reason": match.reason,
            "summary": vulnerability.summary,
        }
        for match, vulnerability in session.execute(query)
    ]


def package_findings(
    session: Session, principal: Principal, owner_login: str, name: str
) -> list[dict[str, Any]]:
    """Each file of a package the caller may read, with its vulnerabilities."""
    package = packages.get_package(session, principal, owner_login, name)
    curate = authz.can_curate(session, principal, package)
    hidden = channel_policy.hidden_reasons(
        session, [f.id for r in package.releases for f in r.files]
    )
    return [
        {
            "basename": row.basename,
            "version": release.version,
            "file_id": row.id,
            "sha256": row.sha256,
            "hidden": hidden.get(row.id) if curate else None,
            "can_curate": curate,
            "vulnerabilities": findings_for_file(session, row.id),
        }
        for release in package.releases
        for row in release.files
    ]


def audit(
    session: Session, principal: Principal, items: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Findings for (name, version[, sha256][, ecosystem]) items, e.g. an environment's
    packages: the status is the one curators gave on a file with that sha256 when the
    caller may see such a file, else ``reported``."""
    keys = [(_item_name(item), str(item.get("version", "")), item) for item in items]
    records = _records(session, {name for name, _v, _i in keys})
    findings = cve.match(records, [(name, version) for name, version, _item in keys])
    by_pair: dict[tuple[str, str], list[cve.Finding]] = {}
    for finding in findings:
        by_pair.setdefault((finding.name, finding.version), []).append(finding)
    statuses = _visible_statuses(
        session, principal, {str(i.get("sha256") or "") for _n, _v, i in keys} - {""}
    )
    answer = []
    for name, version, item in keys:
        sha256 = str(item.get("sha256") or "") or None
        for finding in by_pair.get((name, version), []):
            vulnerability = finding.vulnerability
            status, reason = statuses.get((sha256 or "", vulnerability.id), (REPORTED, ""))
            answer.append(
                {
                    "name": item.get("name"),
                    "version": version,
                    "sha256": sha256,
                    "id": vulnerability.id,
                    "score": vulnerability.score,
                    "severity": vulnerability.severity,
                    "status": status,
                    "reason": reason,
                    "summary": vulnerability.summary,
                }
            )
    return answer


def _item_name(item: dict[str, Any]) -> str:
    name = str(item.get("name", ""))
    return (
        cve.conda_name(DistributionType.PYPI, name)
        if item.get("ecosystem") == DistributionType.PYPI
        else name.lower()
    )


def _visible_statuses(
    session: Session, principal: Principal, digests: set[str]
) -> dict[tuple[str, str], tuple[str, str]]:
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for query in _statuses_by_bytes(digests):
        query = (
            query.join(Release, Release.id == File.release_id)
            .join(Package, Package.id == Release.package_id)
            .where(authz.readable_packages(principal, _READ))
        )
        for digest, vulnerability, status, reason in session.execute(query):
            if (digest, vulnerability) not in found or status != REPORTED:
                found[(digest, vulnerability)] = (status, reason)
    return found


def page_findings(
    session: Session, principal: Principal, package: Package, rows: Iterable[File]
) -> list[dict[str, Any]]:
    """For a package page: each shown file with vulnerabilities (or hidden by a policy),
    with its findings; why it is hidden only for those who may curate it."""
    shown = list(rows)
    curate = authz.can_curate(session, principal, package)
    hidden = channel_policy.hidden_reasons(session, [row.id for row in shown]) if curate else {}
    found = []
    for row in shown:
        vulnerabilities = findings_for_file(session, row.id)
        if vulnerabilities or row.id in hidden:
            found.append(
                {
                    "basename": row.basename,
                    "file_id": row.id,
                    "hidden": hidden.get(row.id),
                    "vulnerabilities": vulnerabilities,
                }
            )
    return found
