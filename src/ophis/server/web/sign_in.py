"""``/signup``, ``/login``, ``/logout``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import ContextDep, SessionDep, client_address
from ophis.server.services.accounts import web_sessions
from ophis.server.web.caller import SESSION_COOKIE, CallerDep, Field, FormCallerDep, cookie_name
from ophis.server.web.rendering import (
    cookie_options,
    error_headers,
    error_status,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)


def safe_next(target: str) -> str:
    """Where to go after signing in: only a path of this site (no ``//host`` or
    ``/\\host``, which browsers read as another site)."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/signup")
def signup_form(request: Request, caller: CallerDep) -> Response:
    return render(request, caller, "signup.html")


@router.post("/signup")
def signup(
    request: Request,
    caller: FormCallerDep,
    session: SessionDep,
    context: ContextDep,
    login: Field,
    password: Field,
    confirm: Field,
    email: Field = "",
    name: Field = "",
) -> Response:
    try:
        account = web_sessions.sign_up(
            session, context.settings, login, password, confirm, email=email, name=name
        )
    except OphisError as error:
        return render(
            request,
            caller,
            "signup.html",
            status=error_status(error),
            error=error,
            login=login,
            email=email,
            name=name,
        )
    return redirect(request, f"/login?created={account.login}")


@router.get("/login")
def login_form(request: Request, caller: CallerDep, next: str = "/", created: str = "") -> Response:
    return render(
        request, caller, "login.html", next=safe_next(next), login=created, created=created
    )


@router.post("/login")
def login(
    request: Request,
    caller: FormCallerDep,
    session: SessionDep,
    context: ContextDep,
    login: Field,
    password: Field,
    next: Field = "/",
) -> Response:
    address = client_address(request)
    try:
        signed_in = web_sessions.sign_in(session, context.settings, login, password, address)
    except OphisError as error:
        refused = render(
            request,
            caller,
            "login.html",
            status=error_status(error),
            error=error,
            login=login,
            next=safe_next(next),
        )
        refused.headers.update(error_headers(error))
        return refused
    response = redirect(request, safe_next(next))
    response.set_cookie(
        cookie_name(request, SESSION_COOKIE),
        signed_in.secret,
        max_age=context.settings.session_seconds,
        **cookie_options(request),
    )
    return response


@router.post("/logout")
def logout(request: Request, caller: FormCallerDep, session: SessionDep) -> Response:
    if caller.row is not None:
        web_sessions.end_session(session, caller.row)
    response = redirect(request, "/")
    response.delete_cookie(cookie_name(request, SESSION_COOKIE), **cookie_options(request))
    return response
