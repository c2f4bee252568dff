"""FastAPI dependencies shared by the routes: the database session, the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ophis.security.tokens import PREFIX as TOKEN_PREFIX
from ophis.server.context import ServerContext
from ophis.server.db.models import Account
from ophis.server.services.accounts.authz import ANONYMOUS, Principal, require_login
from ophis.server.services.accounts.tokens import principal_for


async def get_context(request: Request) -> ServerContext:
    # async: no I/O here, and FastAPI runs sync dependencies in its thread pool (a hop each)
    return request.app.state.context


def get_session(request: Request) -> Iterator[Session]:
    """One session per request; services commit their own transaction, anything left
    uncommitted (after an error) is rolled back when the session closes."""
    with request.app.state.context.sessions() as session:
        yield session


ContextDep = Annotated[ServerContext, Depends(get_context)]
SessionDep = Annotated[Session, Depends(get_session)]


def client_address(request: Request) -> str:
    """Who is calling: the socket's peer, or the client a trusted proxy names
    (:mod:`ophis.server.proxies` put it in the request before any route ran)."""
    return request.client.host if request.client else ""


def request_token(request: Request) -> str | None:
    """The token of a request: ``Authorization: token X`` (anaconda-client), ``Bearer X``,
    or ``/t/X/`` in the path (conda, pip; taken out by the token middleware), where
    :mod:`ophis.server.basic_auth` also puts a token given by HTTP Basic auth."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "token" and value:
        return value
    if scheme.lower() == "bearer" and value.startswith(f"{TOKEN_PREFIX}-"):
        return value  # other bearer keys (anaconda.com's) are not ours: see /authentications
    return getattr(request.state, "path_token", None)


def get_principal(request: Request, session: SessionDep) -> Principal:
    token = request_token(request)
    return principal_for(session, token) if token else ANONYMOUS


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_current_user(principal: PrincipalDep) -> Account:
    return require_login(principal)


CurrentUser = Annotated[Account, Depends(get_current_user)]
