"""The server's administration page: superusers only, a 404 to everyone else. At
``/settings/admin`` rather than ``/admin``: ``admin`` is the first administrator's own
namespace, whose owner page is ``/admin``.

Besides what it shows, it resets users' passwords and disables or enables users. Its forms
take the plain CSRF-checked caller, not the signed-in one: a visitor who is not signed in
gets the same 404 as any other non-superuser, not a request to sign in."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import SessionDep
from ophis.server.services.admin import admin
from ophis.server.services.channels import browse
from ophis.server.web.caller import CallerDep, Field, FormCallerDep, WebCaller
from ophis.server.web.pages import PageNumber
from ophis.server.web.rendering import error_status, redirect, render

router = APIRouter(prefix="/settings/admin", include_in_schema=False)
#: the page of users the form was on, to come back to
FormPage = Annotated[int, Form(ge=1, le=browse.MAX_PAGE)]


@router.get("")
def admin_page(
    request: Request, caller: CallerDep, session: SessionDep, page: PageNumber = 1
) -> Response:
    return _page(request, caller, session, page)


@router.post("/users/{login}/password")
def reset_password(
    request: Request,
    login: str,
    caller: FormCallerDep,
    session: SessionDep,
    password: Field = "",
    revoke_tokens: Annotated[bool, Form()] = False,
    page: FormPage = 1,
) -> Response:
    try:
        reset = admin.reset_password(
            session, caller.principal, login, password, revoke_tokens=revoke_tokens
        )
    except OphisError as error:
        return _failed(request, caller, session, page, error, login)
    # a generated password is shown on this page only, once (pages are never cached)
    return _page(request, caller, session, page, reset=reset)


@router.post("/users/{login}/disable")
def disable_user(
    request: Request,
    login: str,
    caller: FormCallerDep,
    session: SessionDep,
    page: FormPage = 1,
) -> Response:
    return _set_disabled(request, caller, session, login, True, page)


@router.post("/users/{login}/enable")
def enable_user(
    request: Request,
    login: str,
    caller: FormCallerDep,
    session: SessionDep,
    page: FormPage = 1,
) -> Response:
    return _set_disabled(request, caller, session, login, False, page)


def _set_disabled(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    login: str,
    disabled: bool,
    page: int,
) -> Response:
    try:
        admin.set_disabled(session, caller.principal, login, disabled)
    except OphisError as error:
        return _failed(request, caller, session, page, error, login)
    return redirect(request, f"/settings/admin?page={page}")


def _failed(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    page: int,
    error: OphisError,
    login: str,
) -> Response:
    if error_status(error) == 404:
        raise error  # the site's one 404 page: nothing said about who exists
    status = error_status(error)
    return _page(request, caller, session, page, status=status, error=error, failed=login)


def _page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    page: int,
    status: int = 200,
    **context: object,
) -> Response:
    return render(
        request,
        caller,
        "admin.html",
        status=status,
        users=admin.users(session, caller.principal, page),
        storage=admin.storage(session, caller.principal),
        uploads=admin.recent_uploads(session, caller.principal),
        errors=admin.recent_errors(session, caller.principal, 1),
        page=page,
        **context,
    )
