"""``/settings/retention``: the retention policies of the signed-in user and of the
organizations they administer; each previewed before it is run by hand or by the server."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import ContextDep, SessionDep
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import retention
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import redirect, render

router = APIRouter(prefix="/settings/retention", include_in_schema=False)


@router.get("")
def policy_list(
    request: Request, caller: SignedInDep, session: SessionDep, owner: str = ""
) -> Response:
    return _page(request, caller, session, owner=owner)


@router.post("")
def create_policy(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    label: Field,
    keep_newest: Field = "",
    max_age_days: Field = "",
) -> Response:
    try:
        retention.create_policy(
            session,
            caller.principal,
            owner,
            label.strip(),
            _count(keep_newest, "builds to keep"),
            _count(max_age_days, "maximum age"),
        )
    except OphisError as error:
        return _page(request, caller, session, status=getattr(error, "status", 400), error=error)
    return redirect(request, "/settings/retention")


@router.get("/{policy_id}/preview")
def preview_policy(
    request: Request, policy_id: int, caller: SignedInDep, session: SessionDep
) -> Response:
    policy = retention.get_policy(session, caller.principal, policy_id)
    return _page(
        request, caller, session, previewed=policy, preview=retention.preview(session, policy)
    )


@router.post("/{policy_id}/run")
def run_policy(
    request: Request,
    policy_id: int,
    caller: SignedInFormDep,
    session: SessionDep,
    context: ContextDep,
) -> Response:
    policy = retention.get_policy(session, caller.principal, policy_id)
    outcome = retention.apply(session, context.storage, policy)
    return _page(request, caller, session, ran=policy, outcome=outcome)


@router.post("/{policy_id}/delete")
def delete_policy(
    request: Request, policy_id: int, caller: SignedInFormDep, session: SessionDep
) -> Response:
    retention.delete_policy(session, caller.principal, policy_id)
    return redirect(request, "/settings/retention")


def _count(value: str, what: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise BadRequest(f"The {what} must be a whole number, not {value!r}.", "Or leave it empty.")
    return int(value)


def _page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    status: int = 200,
    owner: str = "",
    **context: object,
) -> Response:
    owners = retention.manageable_owners(session, caller.principal)
    shown = owners
    if owner:
        account = accounts.get_account(session, owner)
        retention.check_admin(session, caller.principal, account)
        shown = [account]
    return render(
        request,
        caller,
        "retention.html",
        status=status,
        policies=retention.list_policies(session, shown),
        owners=owners,
        other_labels=retention.other_labels,
        **context,
    )
