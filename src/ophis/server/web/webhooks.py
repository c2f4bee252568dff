"""``/settings/webhooks``: the hooks of the signed-in user and of the organizations they
administer, with each hook's recent deliveries; a hook edited, or a past delivery sent
again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import ContextDep, SessionDep
from ophis.server.services.events import webhooks
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import redirect, render

router = APIRouter(prefix="/settings/webhooks", include_in_schema=False)


@router.get("")
def hook_list(request: Request, caller: SignedInDep, session: SessionDep) -> Response:
    return _page(request, caller, session)


@router.post("")
def create_hook(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    context: ContextDep,
    owner: Field,
    url: Field,
    package: Field = "",
    secret: Field = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        hook = webhooks.create_hook(
            session,
            context.settings,
            caller.principal,
            owner,
            url.strip(),
            events or [],
            package,
            secret,
        )
    except OphisError as error:
        return _page(request, caller, session, status=getattr(error, "status", 400), error=error)
    # a secret the server chose is shown once, as a new token is
    return _page(request, caller, session, new_secret=None if secret else hook.secret)


@router.post("/{hook_id}/edit")
def edit_hook(
    request: Request,
    hook_id: int,
    caller: SignedInFormDep,
    session: SessionDep,
    context: ContextDep,
    url: Field,
    package: Field = "",
    active: Field = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        webhooks.update_hook(
            session,
            context.settings,
            caller.principal,
            hook_id,
            url.strip(),
            events or [],
            package,
            bool(active),
        )
    except OphisError as error:
        return _refused(request, caller, session, error, editing=hook_id)
    return redirect(request, "/settings/webhooks")


@router.post("/deliveries/{delivery_id}/redeliver")
def redeliver(
    request: Request, delivery_id: int, caller: SignedInFormDep, session: SessionDep
) -> Response:
    try:
        webhooks.redeliver(session, caller.principal, delivery_id)
    except OphisError as error:
        return _refused(request, caller, session, error)
    # the new delivery shows as pending in the hook's log until the sender has sent it
    return redirect(request, "/settings/webhooks")


@router.post("/{hook_id}/delete")
def delete_hook(
    request: Request, hook_id: int, caller: SignedInFormDep, session: SessionDep
) -> Response:
    webhooks.delete_hook(session, caller.principal, hook_id)
    return redirect(request, "/settings/webhooks")


def _refused(
    request: Request, caller: WebCaller, session: SessionDep, error: OphisError, **context: object
) -> Response:
    """The page again with what was wrong; but a 404 is the site's one 404 page, the same
    whether the hook or delivery is missing or another's."""
    status = getattr(error, "status", 400)
    if status == 404:
        raise error
    return _page(request, caller, session, status=status, action_error=error, **context)


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
