"""What a channel accepts: per owner (``label`` "" for every label, or one label), files with
a known vulnerability of score >= ``max_score`` in one of ``statuses`` (default ``active``),
or with a license outside ``licenses``, are refused at upload (``refuse``) or hidden from the
channel's indexes (``hide``; a refusing policy also hides such files already stored, e.g.
once a curator marks a CVE active).

Hidden files are kept in ``policy_hidden_files`` as (file, policy label) rows, computed
against every file of the owner whatever its labels, so that a file copied into a label
later is hidden there at once; :func:`ophis.server.services.channels.repodata.visible_files` leaves
out the files with a row for the label asked or for "". Policies add up: an owner-wide one
applies to every label, a label's own applies besides it. Every change of the rows bumps
the revisions of the file's subdirs, so cached repodata is rebuilt.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.security.cve import STATUSES, conda_name, from_json, match
from ophis.server.db.models import (
    Account,
    ChannelPolicy,
    File,
    FileVulnerability,
    PolicyHiddenFile,
    Vulnerability,
    VulnerabilityRange,
    utcnow,
)
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files

HIDE, REFUSE = "hide", "refuse"
ACTIONS = (HIDE, REFUSE)
EVERY_LABEL = ""
_LICENSE_WORDS = re.compile(r"\s+(?:AND|OR|WITH)\s+|[()]", re.IGNORECASE)


@dataclass(frozen=True)
class PolicySettings:
    action: str = HIDE
    max_score: float | None = None
    statuses: tuple[str, ...] = ("active",)
    licenses: tuple[str, ...] = ()


# --- reading and changing policies ----------------------------------------------------------


def policy_public(row: ChannelPolicy) -> dict[str, Any]:
    return {
        "label": row.label or None,
        "action": row.action,
        "max_score": row.max_score,
        "statuses": list(row.statuses),
        "licenses": list(row.licenses),
        "updated_at": row.updated_at.isoformat(),
    }


def list_policies(session: Session, principal: Principal, owner_login: str) -> list[ChannelPolicy]:
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    return policies_of(session, owner.id)


def policies_of(session: Session, owner_id: int) -> list[ChannelPolicy]:
    query = select(ChannelPolicy).where(ChannelPolicy.owner_id == owner_id)
    return list(session.scalars(query.order_by(ChannelPolicy.label)))


def set_policy(
    session: Session,
    principal: Principal,
    owner_login: str,
    label: str | None,
    settings: PolicySettings,
) -> ChannelPolicy:
    """Create or replace the policy of (owner, label), then hide or show the owner's files
    accordingly; committed."""
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    _check_settings(settings)
    row = _find(session, owner.id, label or EVERY_LABEL)
    if row is None:
        row = ChannelPolicy(owner_id=owner.id, label=label or EVERY_LABEL)
        session.add(row)
    row.action, row.max_score = settings.action, settings.max_score
    row.statuses = list(dict.fromkeys(settings.statuses))
    row.licenses = sorted({name.strip() for name in settings.licenses if name.strip()})
    row.updated_at = utcnow()
    session.flush()
    refresh_owner(session, owner.id)
    session.commit()
    return row


def delete_policy(
    session: Session, principal: Principal, owner_login: str, label: str | None
) -> None:
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    row = _find(session, owner.id, label or EVERY_LABEL)
    if row is None:
        raise authz.not_found(f"The policy of {owner.login} for label {label or '(every label)'}")
    session.delete(row)
    session.flush()
    refresh_owner(session, owner.id)
    session.commit()


def _find(session: Session, owner_id: int, label: str) -> ChannelPolicy | None:
    query = select(ChannelPolicy).where(
        ChannelPolicy.owner_id == owner_id, ChannelPolicy.label == label
    )
    return session.scalar(query)


def _check_settings(settings: PolicySettings) -> None:
    if settings.action not in ACTIONS:
        raise BadRequest(f"{settings.action!r} is not a policy action.", "Use 'hide' or 'refuse'.")
    if settings.max_score is not None and not 0 <= settings.max_score <= 10:
        raise BadRequest(f"{settings.max_score} is not a CVSS score.", "Give a score from 0 to 10.")
    unknown = [s for s in settings.statuses if s not in STATUSES]
    if unknown or (settings.max_score is not None and not settings.statuses):
        raise BadRequest(
            f"Unknown or missing vulnerability statuses: {', '.join(unknown) or 'none given'}.",
            f"Use some of: {', '.join(STATUSES)}.",
        )


# --- what a policy says of a file -----------------------------------------------------------


def license_allowed(license_text: str, allowed: Iterable[str]) -> bool:
    """Is a license expression within an allowlist? The whole expression may be listed, or
    every license it names (``MIT AND BSD-3-Clause`` needs both); case-insensitive."""
    allowed = {name.lower() for name in allowed}
    text = license_text.strip().lower()
    if not text:
        return False
    if text in allowed:
        return True
    parts = [p.strip() for p in _LICENSE_WORDS.split(text) if p and p.strip()]
    return bool(parts) and all(part in allowed for part in parts)


def file_license(row: File) -> str:
    record = row.record or {}
    return str(record.get("license") or (row.attrs or {}).get("license") or "")


def violations(
    policy: ChannelPolicy, license_text: str, findings: Iterable[tuple[str, float | None, str]]
) -> list[str]:
    """Why ``policy`` rejects a file with ``license_text`` and ``findings`` (vulnerability
    id, score, status); empty when it accepts it."""
    reasons = []
    if policy.licenses and not license_allowed(license_text, policy.licenses):
        reasons.append(
            f"license {license_text or '(none)'!r} is not in {', '.join(policy.licenses)}"
        )
    if policy.max_score is not None:
        for vulnerability, score, status in findings:
            if score is not None and score >= policy.max_score and status in policy.statuses:
                reasons.append(f"{vulnerability} (score {score}, {status})")
    return reasons


def _file_findings(session: Session, file_ids: list[int]) -> dict[int, list[tuple[str, Any, str]]]:
    query = (
        select(
            FileVulnerability.file_id,
            Vulnerability.id,
            Vulnerability.score,
            FileVulnerability.status,
        )
        .join(Vulnerability, Vulnerability.id == FileVulnerability.vulnerability_id)
        .where(FileVulnerability.file_id.in_(file_ids))
    )
    found: dict[int, list[tuple[str, Any, str]]] = {}
    for file_id, vulnerability, score, status in session.execute(query):
        found.setdefault(file_id, []).append((vulnerability, score, status))
    return found


# --- keeping the hidden files up to date ----------------------------------------------------


def refresh_owner(session: Session, owner_id: int) -> int:
    """Recompute which of the owner's files its policies hide; the number of rows changed."""
    ids = list(session.scalars(select(File.id).where(File.owner_id == owner_id)))
    return refresh_files(session, ids)


def refresh_files(session: Session, file_ids: Iterable[int]) -> int:
    """Recompute the hidden rows of some files (flushed, not committed), bumping the
    revisions of the subdirs of those that appear or disappear."""
    ids = sorted(set(file_ids))
    changed = 0
    for start in range(0, len(ids), 500):  # bounded IN lists
        changed += _refresh_chunk(session, ids[start : start + 500])
    return changed


def _refresh_chunk(session: Session, ids: list[int]) -> int:
    rows = list(session.scalars(select(File).where(File.id.in_(ids))))
    policies: dict[int, list[ChannelPolicy]] = {}
    for owner_id in {row.owner_id for row in rows}:
        policies[owner_id] = policies_of(session, owner_id)
    findings = _file_findings(session, ids)
    current = {
        (h.file_id, h.label): h
        for h in session.scalars(select(PolicyHiddenFile).where(PolicyHiddenFile.file_id.in_(ids)))
    }
    changed: set[int] = set()
    for row in rows:
        for policy in policies[row.owner_id]:
            reasons = violations(policy, file_license(row), findings.get(row.id, []))
            existing = current.pop((row.id, policy.label), None)
            if reasons and existing is None:
                session.add(_hidden(row, policy, reasons))
                changed.add(row.id)
            elif reasons and existing is not None:
                existing.reason = "; ".join(reasons)
            elif existing is not None:
                session.delete(existing)
                changed.add(row.id)
    for (file_id, _label), stale in current.items():  # a policy that went away
        session.delete(stale)
        changed.add(file_id)
    for row in rows:
        if row.id in changed:
            files.touch(session, row)
    session.flush()
    return len(changed)


def _hidden(row: File, policy: ChannelPolicy, reasons: list[str]) -> PolicyHiddenFile:
    return PolicyHiddenFile(
        file_id=row.id, label=policy.label, owner_id=row.owner_id, reason="; ".join(reasons)
    )


def hidden_reasons(session: Session, file_ids: Iterable[int]) -> dict[int, str]:
    """Why files are hidden (for the owner's pages), by file id."""
    query = select(PolicyHiddenFile).where(PolicyHiddenFile.file_id.in_(list(file_ids)))
    reasons: dict[int, str] = {}
    for row in session.scalars(query):
        where = f"label {row.label}" if row.label else "every label"
        reasons[row.file_id] = f"hidden from {where}: {row.reason}"
    return reasons


def hidden_everywhere_clause(owner_id: Any) -> Any:
    """For listings across labels (a package's files): File rows no policy of the owner
    hides from every label."""
    hidden = select(PolicyHiddenFile.file_id).where(
        PolicyHiddenFile.owner_id == owner_id, PolicyHiddenFile.label == EVERY_LABEL
    )
    return File.id.not_in(hidden)


def hidden_clause(owner_id: Any, label: Any) -> Any:
    """For :func:`ophis.server.services.channels.repodata.visible_files`: File rows not hidden from
    (owner, label) by a policy."""
    hidden = select(PolicyHiddenFile.file_id).where(
        PolicyHiddenFile.owner_id == owner_id,
        PolicyHiddenFile.label.in_([label, EVERY_LABEL]),
    )
    return File.id.not_in(hidden)


# --- refusing uploads -----------------------------------------------------------------------


def check_upload(
    session: Session, owner: Account, inspected: files.Inspected, labels: Iterable[str]
) -> None:
    """Refuse an upload a refusing policy of its owner and labels rejects. A new file's
    matches start as ``reported``, or with the status curators gave the same vulnerability
    on a file with the same bytes (a copy or a re-upload)."""
    wanted = {EVERY_LABEL, *labels}
    refusing = [
        p for p in policies_of(session, owner.id) if p.action == REFUSE and p.label in wanted
    ]
    if not refusing:
        return
    name, version = inspected.name, inspected.version
    findings = _upload_findings(
        session, name, version, inspected.sha256, inspected.distribution_type
    )
    license_text = str(
        (inspected.record or {}).get("license") or inspected.attrs.get("license") or ""
    )
    for policy in refusing:
        reasons = violations(policy, license_text, findings)
        if reasons:
            where = files.channel_path(owner.login, policy.label or files.MAIN)
            raise BadRequest(
                f"{where} refuses {name}-{version}: {'; '.join(reasons)}.",
                f"Upload a version without them, or ask an admin of {owner.login} to change the"
                " channel's policy (or a curator to change the vulnerability's status).",
            )


def _upload_findings(
    session: Session, name: str, version: str, sha256: str, distribution_type: str
) -> list[tuple[str, float | None, str]]:
    key = conda_name("pypi", name) if distribution_type == DistributionType.PYPI else name.lower()
    affecting = select(VulnerabilityRange.vulnerability_id).where(VulnerabilityRange.name == key)
    rows = session.scalars(select(Vulnerability).where(Vulnerability.id.in_(affecting))).all()
    if not rows:
        return []
    inherited = _statuses_of_bytes(session, sha256)
    found = match([from_json(row.record) for row in rows], [(key, version)])
    return [
        (f.vulnerability.id, f.vulnerability.score, inherited.get(f.vulnerability.id, "reported"))
        for f in found
    ]


def _statuses_of_bytes(session: Session, sha256: str) -> dict[str, str]:
    """Statuses curators gave on files with these bytes, by vulnerability."""
    query = (
        select(FileVulnerability.vulnerability_id, FileVulnerability.status)
        .join(File, File.id == FileVulnerability.file_id)
        .where(File.sha256 == sha256, FileVulnerability.status != "reported")
        .order_by(FileVulnerability.updated_at)
    )
    return {vulnerability: status for vulnerability, status in session.execute(query)}
