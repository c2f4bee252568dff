"""Logins, tokens and accounts: ``/authentications``, ``/user``, ``/scopes`` (reference §2)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Request, Response

from ophis.security.tokens import PREFIX as TOKEN_PREFIX
from ophis.server.deps import ContextDep, CurrentUser, PrincipalDep, SessionDep, client_address
from ophis.server.errors import Unauthorized
from ophis.server.schemas import TokenCreate, token_public, user_public
from ophis.server.services.accounts import accounts, sign_in_limit, tokens
from ophis.server.services.accounts.authz import (
    SCOPES,
    Principal,
    password_principal,
    require_login,
)

router = APIRouter()


@router.get("/authentication-type")
def authentication_type() -> dict[str, str]:
    return {"authentication_type": "password"}


@router.get("/scopes")
def scopes() -> dict[str, str]:
    return SCOPES


@router.post("/authentications")
def create_authentication(
    request: Request,
    body: TokenCreate,
    session: SessionDep,
    context: ContextDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """A new token, for a user name and password (Basic) or for a token that may manage
    tokens; never broader than what asks for it (:func:`tokens.create_token`)."""
    caller = _password_principal(request, session, context) or principal
    account = require_login(caller)
    org = None
    if body.user and body.user.lower() != account.login_key:
        org = accounts.get_account(session, body.user)
    token, secret = tokens.create_token(
        session,
        caller,
        body.note or "token",
        scopes=body.scopes,
        max_age=body.max_age,
        org=org,
        hostname=body.hostname or "",
        application=body.note or "",
        remote_addr=client_address(request),
        fail_if_exists=body.fail_if_exists,
    )
    return {"token": secret, **token_public(token)}


def _password_principal(
    request: Request, session: SessionDep, context: ContextDep
) -> Principal | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and not value.startswith(f"{TOKEN_PREFIX}-"):
        # An anaconda.com key (the client's "unified" login): answering this makes
        # anaconda-client fall back to a password login.
        raise Unauthorized(
            "Bearer token authentication is not enabled",
            "Log in with a user name and password.",
        )
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(value).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(
            "Malformed Basic authorization header.", "Send base64 of user:password."
        ) from None
    account = sign_in_limit.check_password(
        session, context.settings, login, password, client_address(request)
    )
    return password_principal(account)


@router.get("/authentication")
def current_authentication(principal: PrincipalDep, session: SessionDep) -> dict[str, Any]:
    token = tokens.current_token(session, principal)
    return {"id": str(token.id), "application": token.name, "user": token.account.login}


@router.get("/authentications")
def list_authentications(principal: PrincipalDep, session: SessionDep) -> list[dict[str, Any]]:
    return [token_public(token) for token in tokens.list_tokens(session, principal)]


@router.delete("/authentications", status_code=201)
def revoke_current(principal: PrincipalDep, session: SessionDep) -> Response:
    """Log out: any token may revoke itself (that only ever narrows what it can do)."""
    tokens.revoke(session, tokens.current_token(session, principal))
    return Response(status_code=201)


@router.delete("/authentications/name/{name}", status_code=201)
def revoke_named(name: str, principal: PrincipalDep, session: SessionDep) -> Response:
    tokens.revoke_named(session, principal, name)
    return Response(status_code=201)


@router.delete("/authentications/org/{org}/name/{name}", status_code=201)
def revoke_org_named(org: str, name: str, principal: PrincipalDep, session: SessionDep) -> Response:
    tokens.revoke_named(session, principal, name, org=accounts.get_account(session, org))
    return Response(status_code=201)


@router.get("/user")
def whoami(user: CurrentUser) -> dict[str, Any]:
    return user_public(user)


@router.get("/user/orgs")
def my_orgs(user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    return [user_public(org) for org in accounts.orgs_of(session, user)]


@router.get("/user/{login}")
def show_user(login: str, session: SessionDep) -> dict[str, Any]:
    return user_public(accounts.get_account(session, login))


@router.get("/users/{login}/orgs")
def user_orgs(login: str, session: SessionDep) -> list[dict[str, Any]]:
    return [
        user_public(org) for org in accounts.orgs_of(session, accounts.get_account(session, login))
    ]
