"""Labels ("channels" in the legacy API) and copies between owners or labels (reference
§2 "Labels" and "Copy between owners or labels")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.schemas import (
    CopyRequest,
    FileSelection,
    file_public,
    label_detail,
    label_public,
)
from ophis.server.services.catalog import labels
from ophis.server.services.intake import copies

router = APIRouter()
_CREATED = 201


@router.get("/channels/{owner}")
def list_labels(owner: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    """An object keyed by label name, as the client expects."""
    return {
        entry.label.name: label_public(entry.label, entry.files)
        for entry in labels.list_labels(session, principal, owner)
    }


@router.get("/channels/{owner}/{label}")
def show_label(
    owner: str, label: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    entry = labels.show_label(session, principal, owner, label)
    return label_detail(entry.label, entry.files)


@router.post("/channels/{owner}/{label}", status_code=_CREATED)
def add_label(
    owner: str,
    label: str,
    session: SessionDep,
    principal: PrincipalDep,
    body: FileSelection | None = None,
) -> Response:
    labels.add_label(session, principal, owner, label, body or FileSelection())
    return Response(status_code=_CREATED)


@router.delete("/channels/{owner}/{label}", status_code=_CREATED)
def remove_label(
    owner: str,
    label: str,
    session: SessionDep,
    principal: PrincipalDep,
    body: FileSelection | None = None,
    force: bool = False,
) -> Response:
    """Without a selection the whole label goes; ``?force=true`` even when that leaves
    files in no label (refused otherwise)."""
    selection = body or FileSelection()
    labels.remove_label(session, principal, owner, label, selection, force=force)
    return Response(status_code=_CREATED)


@router.post("/channels/{owner}/{label}/copy/{to_label}", status_code=_CREATED)
def copy_label(
    owner: str, label: str, to_label: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    labels.copy_label(session, principal, owner, label, to_label)
    return Response(status_code=_CREATED)


@router.post("/channels/{owner}/{label}/lock", status_code=_CREATED)
def lock_label(owner: str, label: str, session: SessionDep, principal: PrincipalDep) -> Response:
    labels.set_locked(session, principal, owner, label, True)
    return Response(status_code=_CREATED)


@router.delete("/channels/{owner}/{label}/lock", status_code=_CREATED)
def unlock_label(owner: str, label: str, session: SessionDep, principal: PrincipalDep) -> Response:
    labels.set_locked(session, principal, owner, label, False)
    return Response(status_code=_CREATED)


#: POST copies, PUT (``--replace``) replaces what the destination has, PATCH (``--update``)
#: keeps it
_ON_CONFLICT = {"POST": copies.REFUSE, "PUT": copies.REPLACE, "PATCH": copies.KEEP}


_COPY = "/copy/package/{owner}/{name}/{version}/{basename:path}"


# The path ends with a slash when no file is given: ``{basename:path}`` then matches empty.
@router.post(_COPY)
@router.put(_COPY)
@router.patch(_COPY)
def copy_package(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    body: CopyRequest | None = None,
) -> list[dict[str, Any]]:
    copied = copies.copy_files(
        session,
        context.storage,
        principal,
        (owner, name, version, basename or None),
        body or CopyRequest(),
        _ON_CONFLICT[request.method],
    )
    return [file_public(row) for row in copied]
