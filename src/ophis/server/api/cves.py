"""Known vulnerabilities and channel policies: ``/api/cves``, a package's findings, the
curators' status changes, the audit used by ``ophis audit``, and ``/api/policies/<owner>``.

Vulnerability records are public; which files they affect follows the packages' privacy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.services.trust import channel_policy, cves

router = APIRouter()


class StatusChange(BaseModel):
    status: str
    reason: str = ""


class AuditItem(BaseModel):
    name: str
    version: str
    sha256: str | None = None
    #: "conda" (default) or "pypi" (a pip-installed project)
    ecosystem: str | None = None


class AuditRequest(BaseModel):
    packages: list[AuditItem] = Field(default_factory=list, max_length=100_000)


class PolicyUpdate(BaseModel):
    label: str | None = None
    action: str = channel_policy.HIDE
    max_score: float | None = None
    statuses: list[str] = Field(default_factory=lambda: ["active"])
    licenses: list[str] = Field(default_factory=list)


@router.get("/cves")
def list_cves(
    session: SessionDep, package: str | None = None, min_score: float | None = None
) -> list[dict[str, Any]]:
    rows = cves.list_vulnerabilities(session, package or None, min_score)
    return [cves.vulnerability_public(row) for row in rows]


@router.post("/cves/audit")
def audit(body: AuditRequest, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    items = [item.model_dump() for item in body.packages]
    return {"findings": cves.audit(session, principal, items)}


@router.get("/cves/{vulnerability_id}")
def get_cve(vulnerability_id: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    row = cves.get_vulnerability(session, vulnerability_id)
    files = cves.affected_files(session, principal, row.id)
    return {**cves.vulnerability_public(row), "files": files}


@router.put("/cves/{vulnerability_id}/files/{file_id:int}")
def set_status_by_id(
    vulnerability_id: str,
    file_id: int,
    body: StatusChange,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return _set(session, principal, vulnerability_id, file_id, body)


@router.put("/cves/{vulnerability_id}/files/{owner}/{basename:path}")
def set_status(
    vulnerability_id: str,
    owner: str,
    basename: str,
    body: StatusChange,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    file_id = cves.file_id_of(session, principal, owner, basename)
    return _set(session, principal, vulnerability_id, file_id, body)


def _set(
    session: Any, principal: Any, vulnerability_id: str, file_id: int, body: StatusChange
) -> dict[str, Any]:
    match = cves.set_status(session, principal, vulnerability_id, file_id, body.status, body.reason)
    return {
        "id": match.vulnerability_id,
        "file_id": match.file_id,
        "status": match.status,
        "reason": match.reason,
        "history": cves.history(session, match.vulnerability_id, match.file_id),
    }


@router.get("/package/{owner}/{name}/cves")
def package_cves(
    owner: str, name: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    files = cves.package_findings(session, principal, owner, name)
    return {"owner": owner, "package": name, "files": files}


@router.get("/policies/{owner}")
def get_policies(owner: str, session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    rows = channel_policy.list_policies(session, principal, owner)
    return [channel_policy.policy_public(row) for row in rows]


@router.put("/policies/{owner}")
def put_policy(
    owner: str, body: PolicyUpdate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    settings = channel_policy.PolicySettings(
        body.action, body.max_score, tuple(body.statuses), tuple(body.licenses)
    )
    row = channel_policy.set_policy(session, principal, owner, body.label, settings)
    return channel_policy.policy_public(row)


@router.delete("/policies/{owner}")
def delete_policy(
    owner: str, session: SessionDep, principal: PrincipalDep, label: str | None = None
) -> dict[str, Any]:
    channel_policy.delete_policy(session, principal, owner, label)
    return {"owner": owner, "label": label, "deleted": True}
