"""``/settings/labels``: the labels of the signed-in user's channel, or of an organization
they administer (``?owner=acme``): listed with their file counts, created, locked, renamed,
deleted, and a package's files copied or moved between them. Every change is a service
call of :mod:`ophis.server.services.labels`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import SessionDep
from ophis.server.schemas import FileSelection
from ophis.server.services import labels, webhooks
from ophis.server.services.authz import require_login
from ophis.server.web.caller import SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import redirect, render

router = APIRouter(prefix="/settings/labels", include_in_schema=False)
Field = Annotated[str, Form()]
#: what the transfer form's buttons do: copy leaves the files in the source label too
COPY, MOVE = "copy", "move"


@router.get("")
def label_list(
    request: Request, caller: SignedInDep, session: SessionDep, owner: str = ""
) -> Response:
    return _page(request, caller, session, owner)


@router.post("")
def create_label(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, name: Field
) -> Response:
    return _change(request, caller, session, owner, labels.create_label, name.strip())


@router.post("/lock")
def lock_label(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    name: Field,
    locked: Field,
) -> Response:
    return _change(request, caller, session, owner, labels.set_locked, name, locked == "true")


@router.post("/rename")
def rename_label(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    name: Field,
    new_name: Field,
) -> Response:
    return _change(request, caller, session, owner, labels.rename_label, name, new_name.strip())


@router.post("/delete")
def delete_label(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, name: Field
) -> Response:
    return _change(request, caller, session, owner, labels.delete_label, name)


@router.post("/transfer")
def transfer_files(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    package: Field,
    from_label: Field,
    to_label: Field,
    version: Field = "",
    action: Field = COPY,
) -> Response:
    which = FileSelection(package=package.strip(), version=version.strip() or None)
    try:
        count = labels.transfer_files(
            session,
            caller.principal,
            owner,
            which,
            from_label,
            to_label.strip(),
            move=action == MOVE,
        )
    except OphisError as error:
        return _page(request, caller, session, owner, status=_status(error), error=error)
    verb = "moved" if action == MOVE else "copied"
    done = f"{count} file(s) of {which.package} {verb} from {from_label} to {to_label.strip()}."
    return _page(request, caller, session, owner, saved=done)


def _change(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    owner: str,
    change: Callable[..., object],
    *args: object,
) -> Response:
    """Run one label change; its error shows on the page, success goes back to the list."""
    try:
        change(session, caller.principal, owner, *args)
    except OphisError as error:
        return _page(request, caller, session, owner, status=_status(error), error=error)
    return redirect(request, f"/settings/labels?owner={quote(owner)}")


def _page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    owner: str,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    owners = webhooks.manageable_owners(session, caller.principal)
    login = owner or require_login(caller.principal).login
    rows = labels.label_rows(session, caller.principal, login)
    return render(
        request,
        caller,
        "labels.html",
        status=status,
        owner_login=login,
        owners=owners,
        rows=rows,
        **context,
    )


def _status(error: OphisError) -> int:
    return getattr(error, "status", 400)
