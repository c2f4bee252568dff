"""``/cves`` (the known vulnerabilities, filtered by package and score), ``/cves/<id>`` (a
record with the files it affects that the visitor may see, their statuses and history, and
a status form for curators) and the channel policy forms of ``/settings/channel``."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, Response

from ophis.core.errors import OphisError
from ophis.security.cve import STATUSES
from ophis.server.deps import SessionDep
from ophis.server.errors import BadRequest
from ophis.server.services.trust import channel_policy, cves
from ophis.server.web import channel
from ophis.server.web.caller import CallerDep, Field, SignedInFormDep, WebCaller
from ophis.server.web.rendering import error_status, redirect, render

router = APIRouter(include_in_schema=False)


@router.get("/cves")
def cve_list(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    package: str = "",
    min_score: Annotated[float | None, Query(ge=0, le=10)] = None,
) -> Response:
    rows = cves.list_vulnerabilities(session, package.strip() or None, min_score)
    return render(request, caller, "cves.html", rows=rows, package=package, min_score=min_score)


@router.get("/cves/{vulnerability_id}")
def cve_page(
    request: Request, vulnerability_id: str, caller: CallerDep, session: SessionDep
) -> Response:
    return _page(request, caller, session, vulnerability_id)


@router.post("/cves/{vulnerability_id}/status")
def set_status(
    request: Request,
    vulnerability_id: str,
    caller: SignedInFormDep,
    session: SessionDep,
    file_id: Field,
    status: Field,
    reason: Field = "",
) -> Response:
    try:
        number = _file_id(file_id)
        cves.set_status(session, caller.principal, vulnerability_id, number, status, reason)
    except OphisError as error:
        session.rollback()
        code = error_status(error)
        return _page(request, caller, session, vulnerability_id, status=code, error=error)
    return redirect(request, f"/cves/{quote(vulnerability_id)}#file-{number}")


def _page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    vulnerability_id: str,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    row = cves.get_vulnerability(session, vulnerability_id)
    files = cves.affected_files(session, caller.principal, row.id)
    for found in files:
        found["history"] = cves.history(session, row.id, found["file_id"])
    return render(
        request,
        caller,
        "cve.html",
        status=status,
        record=cves.vulnerability_public(row),
        files=files,
        statuses=STATUSES,
        **context,
    )


def _file_id(value: str) -> int:
    if not value.strip().isdigit():
        raise BadRequest(f"{value!r} is not a file id.", "Use the form on the CVE page.")
    return int(value)


# --- channel policies (shown on /settings/channel) -----------------------------------------


@router.post("/settings/channel/policy")
def set_policy(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    action: Field,
    label: Field = "",
    max_score: Field = "",
    statuses: Annotated[list[str] | None, Form()] = None,
    licenses: Field = "",
) -> Response:
    try:
        settings = channel_policy.PolicySettings(
            action=action,
            max_score=_score(max_score),
            statuses=tuple(statuses or ()),
            licenses=tuple(name for name in licenses.replace(",", " ").split() if name),
        )
        channel_policy.set_policy(session, caller.principal, owner, label.strip(), settings)
    except OphisError as error:
        session.rollback()
        return _channel_page(request, caller, session, owner, error)
    return redirect(request, f"/settings/channel?owner={quote(owner)}#policies")


@router.post("/settings/channel/policy/delete")
def delete_policy(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, label: Field = ""
) -> Response:
    try:
        channel_policy.delete_policy(session, caller.principal, owner, label.strip())
    except OphisError as error:
        session.rollback()
        return _channel_page(request, caller, session, owner, error)
    return redirect(request, f"/settings/channel?owner={quote(owner)}#policies")


def _channel_page(
    request: Request, caller: WebCaller, session: SessionDep, owner: str, error: OphisError
) -> Response:
    code = error_status(error)
    return channel._page(request, caller, session, owner, status=code, policy_error=error)


def _score(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise BadRequest(
            f"{value!r} is not a score.", "Give a CVSS score from 0 to 10, or leave it empty."
        ) from None
