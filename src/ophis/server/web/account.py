"""``/settings/...``: the signed-in user's profile, password and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ophis.core.errors import OphisError
from ophis.server.db.models import Account, WebSession
from ophis.server.deps import ContextDep, SessionDep, client_address
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import tokens, web_sessions
from ophis.server.services.accounts.authz import SCOPES
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import error_headers, error_status, redirect, render

router = APIRouter(prefix="/settings", include_in_schema=False)
#: the token lifetimes the form offers: value -> (label, seconds or None for no expiry)
EXPIRY: dict[str, tuple[str, int | None]] = {
    "1d": ("1 day", 86400),
    "7d": ("7 days", 7 * 86400),
    "30d": ("30 days", 30 * 86400),
    "90d": ("90 days", 90 * 86400),
    "365d": ("1 year", 365 * 86400),
    "never": ("never", None),
}


@router.get("")
def settings_home(request: Request, caller: SignedInDep) -> Response:
    return redirect(request, "/settings/profile")


@router.get("/profile")
def profile(request: Request, caller: SignedInDep) -> Response:
    return render(request, caller, "profile.html")


@router.post("/profile")
def save_profile(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    name: Field = "",
    email: Field = "",
) -> Response:
    account = _account(caller)
    try:
        web_sessions.update_profile(session, account, name, email)
    except OphisError as error:
        return render(request, caller, "profile.html", status=error_status(error), error=error)
    return render(request, caller, "profile.html", saved="Your profile was saved.")


@router.post("/password")
def change_password(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    context: ContextDep,
    current: Field,
    new: Field,
    confirm: Field,
    revoke_tokens: Annotated[bool, Form()] = False,
) -> Response:
    change = web_sessions.PasswordChange(current, new, confirm, revoke_tokens)
    try:
        revoked = web_sessions.change_password(
            session, context.settings, _row(caller), change, client_address(request)
        )
    except OphisError as error:
        response = render(
            request, caller, "profile.html", status=error_status(error), password_error=error
        )
        response.headers.update(error_headers(error))
        return response
    tokens_note = f" {revoked} of your API tokens were revoked." if revoke_tokens else ""
    return render(
        request,
        caller,
        "profile.html",
        saved=f"Your password was changed; your other sign-ins were ended.{tokens_note}",
    )


@router.get("/tokens")
def token_list(request: Request, caller: SignedInDep, session: SessionDep) -> Response:
    return _tokens_page(request, caller, session)


@router.post("/tokens")
def create_token(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    name: Field,
    expiry: Field,
    scopes: Annotated[list[str] | None, Form()] = None,
) -> Response:
    try:
        token, secret = tokens.create_token(
            session,
            caller.principal,
            name.strip(),
            scopes=_chosen_scopes(scopes),
            max_age=_lifetime(expiry),
            application="web",
            remote_addr=client_address(request),
            fail_if_exists=True,
        )
    except OphisError as error:
        return _tokens_page(request, caller, session, status=error_status(error), error=error)
    return _tokens_page(request, caller, session, new_token=secret, new_name=token.name)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: int, caller: SignedInFormDep, session: SessionDep
) -> Response:
    tokens.revoke_id(session, caller.principal, token_id)
    return redirect(request, "/settings/tokens")


def _tokens_page(
    request: Request, caller: WebCaller, session: SessionDep, status: int = 200, **context: object
) -> Response:
    return render(
        request,
        caller,
        "tokens.html",
        status=status,
        tokens=tokens.list_tokens(session, caller.principal),
        scopes=SCOPES,
        expiry=EXPIRY,
        **context,
    )


def _chosen_scopes(scopes: list[str] | None) -> list[str]:
    if not scopes:
        raise BadRequest("Choose at least one scope.", "Tick what the token may do.")
    return scopes


def _lifetime(expiry: str) -> int | None:
    if expiry not in EXPIRY:
        raise BadRequest(f"{expiry!r} is not a token lifetime.", "Choose one from the list.")
    return EXPIRY[expiry][1]


def _row(caller: WebCaller) -> WebSession:
    assert caller.row is not None  # the SignedIn dependencies guarantee it
    return caller.row


def _account(caller: WebCaller) -> Account:
    return _row(caller).account
