"""``/settings/webhooks``: the hooks of the signed-in user and of the organizations they
administer, with each hook's recent deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import SessionDep
from ophis.server.services import webhooks
from ophis.server.web.caller import SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import redirect, render

router = APIRouter(prefix="/settings/webhooks", include_in_schema=False)
Field = Annotated[str, Form()]


@router.get("")
def hook_list(request: Request, caller: SignedInDep, session: SessionDep) -> Response:
    return _page(request, caller, session)


@router.post("")
def create_hook(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    url: Field,
    package: Field = "",
    secret: Field = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        hook = webhooks.create_hook(
            session, caller.principal, owner, url.strip(), events or [], package, secret
        )
    except OphisError as error:
        return _page(request, caller, session, status=getattr(error, "status", 400), error=error)
    # a secret the server chose is shown once, as a new token is
    return _page(request, caller, session, new_secret=None if secret else hook.secret)


@router.post("/{hook_id}/delete")
def delete_hook(
    request: Request, hook_id: int, caller: SignedInFormDep, session: SessionDep
) -> Response:
    webhooks.delete_hook(session, caller.principal, hook_id)
    return redirect(request, "/settings/webhooks")


def _page(
    request: Request, caller: WebCaller, session: SessionDep, status: int = 200, **context: object
) -> Response:
    return render(
        request,
        caller,
        "webhooks.html",
        status=status,
        hooks=webhooks.list_hooks(session, caller.principal),
        owners=webhooks.manageable_owners(session, caller.principal),
        events=webhooks.EVENTS,
        **context,
    )
