"""``/settings/mirrors``: the mirror and proxy channels of the signed-in user, or of an
organization they administer (``?owner=acme``): listed with their last sync, added,
removed, synced now. Every change is a service call of
:mod:`ophis.server.services.channels.mirror_channels` (authorization there, through ``authz``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import ContextDep, SessionDep
from ophis.server.services.channels import mirror_channels
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.owner_settings import OwnerSettingsPage

router = APIRouter(prefix="/settings/mirrors", include_in_schema=False)
PAGE = OwnerSettingsPage("/settings/mirrors", "mirrors.html", mirror_channels.mirrors_of)


@router.get("")
def mirror_list(
    request: Request, caller: SignedInDep, session: SessionDep, owner: str = ""
) -> Response:
    return PAGE.render(request, caller, session, owner)


@router.post("")
def add_mirror(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    context: ContextDep,
    owner: Field,
    upstream: Field,
    label: Field = "main",
    mode: Field = "mirror",
    subdirs: Field = "",
    include: Field = "",
    exclude: Field = "",
    licenses: Field = "",
    newest: Field = "",
    interval: Field = "3600",
    token: Field = "",
    keep_removed: Field = "",
) -> Response:
    try:
        wanted = mirror_channels.MirrorRequest(
            owner=owner,
            upstream=upstream,
            label=label.strip() or "main",
            mode=mode,
            subdirs=_words(subdirs),
            include=_lines(include),
            exclude=_lines(exclude),
            licenses=_words(licenses),
            newest=int(newest) if newest.strip() else None,
            keep_removed=bool(keep_removed),
            interval_seconds=int(interval or 3600),
            token=token.strip() or None,
        )
    except ValueError:
        error = OphisError("Newest and the interval are whole numbers.", "Fix them.")
        return PAGE.render(request, caller, session, owner, status=400, error=error)
    return _change(
        request, caller, session, owner, mirror_channels.add_mirror, wanted, context.settings
    )


@router.post("/sync")
def sync_now(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, label: Field
) -> Response:
    return _change(request, caller, session, owner, mirror_channels.request_sync, owner, label)


@router.post("/delete")
def remove_mirror(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, label: Field
) -> Response:
    return _change(request, caller, session, owner, mirror_channels.remove_mirror, owner, label)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.replace(",", " ").split())


def _lines(text: str) -> tuple[str, ...]:
    """Match specs, one a line (a spec may hold spaces: ``numpy >=1.26``)."""
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _change(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    owner: str,
    change: Callable[..., object],
    *args: object,
) -> Response:
    run = partial(change, session, caller.principal, *args)
    return PAGE.apply(request, caller, session, owner, run)
