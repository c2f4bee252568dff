"""``/settings/labels``: the labels of the signed-in user's channel, or of an organization
they administer (``?owner=acme``): listed with their file counts, created, locked, renamed,
deleted, and a package's files copied or moved between them. Every change is a service
call of :mod:`ophis.server.services.catalog.labels`."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import SessionDep
from ophis.server.schemas import FileSelection
from ophis.server.services.catalog import labels
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.owner_settings import OwnerSettingsPage
from ophis.server.web.rendering import error_status

router = APIRouter(prefix="/settings/labels", include_in_schema=False)
PAGE = OwnerSettingsPage("/settings/labels", "labels.html", labels.label_rows)
#: what the transfer form's buttons do: copy leaves the files in the source label too
COPY, MOVE = "copy", "move"


@router.get("")
def label_list(
    request: Request, caller: SignedInDep, session: SessionDep, owner: str = ""
) -> Response:
    return PAGE.render(request, caller, session, owner)


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
        return PAGE.render(request, caller, session, owner, status=error_status(error), error=error)
    verb = "moved" if action == MOVE else "copied"
    done = f"{count} file(s) of {which.package} {verb} from {from_label} to {to_label.strip()}."
    return PAGE.render(request, caller, session, owner, saved=done)


def _change(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    owner: str,
    change: Callable[..., object],
    *args: object,
) -> Response:
    """One label change of ``owner``'s."""
    run = partial(change, session, caller.principal, owner, *args)
    return PAGE.apply(request, caller, session, owner, run)
