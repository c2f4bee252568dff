"""``/api/deployments``: deploy a project, see, stop, start, remove it, read its log,
change who may call it, and make tokens that call it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.origins import user_content_root
from ophis.server.services.accounts.authz import require_login
from ophis.server.services.hosting import deployments, user_content

router = APIRouter()


class AccessChange(BaseModel):
    public: bool | None = None
    users: list[str] | None = None
    groups: list[str] | None = None
    #: the CSP sandbox its pages get ("allow-scripts allow-same-origin ...", "off")
    sandbox: str | None = Field(default=None, max_length=300)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    #: None: the token does not expire
    expires_in_seconds: int | None = Field(default=None, gt=0)


@router.post("/deployments/{owner}/{name}", status_code=201)
async def deploy(
    owner: str,
    name: str,
    request: Request,
    context: ContextDep,
    principal: PrincipalDep,
    public: bool | None = None,
    user: list[str] | None = Query(None),
    group: list[str] | None = Query(None),
) -> dict[str, Any]:
    """The body is the project as a .tar.gz; installing and starting it can take a while."""
    require_login(principal)  # before the body is read: strangers' archives are not held
    archive = await request.body()
    root = user_content_root(request)

    def run() -> dict[str, Any]:
        with context.sessions() as session:
            deployment = deployments.deploy(
                session,
                context.settings,
                principal,
                owner,
                name,
                archive,
                public=public,
                users=user,
                groups=group,
            )
            return deployments.public_view(deployment, root)

    return await run_in_threadpool(run)


@router.get("/deployments/{owner}")
def list_deployments(
    owner: str, request: Request, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    root = user_content_root(request)
    return [
        deployments.public_view(d, root)
        for d in deployments.list_managed(session, principal, owner)
    ]


@router.get("/deployments/{owner}/{name}")
def show_deployment(
    owner: str,
    name: str,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    deployment = deployments.get_managed(session, principal, owner, name)
    return deployments.public_view(deployment, user_content_root(request))


@router.get("/deployments/{owner}/{name}/logs", response_class=PlainTextResponse)
def deployment_logs(
    owner: str,
    name: str,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
    lines: int = Query(200, gt=0, le=100_000),
) -> str:
    deployments.get_managed(session, principal, owner, name)
    return deployments.tail(deployments.log_path(context.settings, owner, name), lines)


@router.patch("/deployments/{owner}/{name}")
def change_access(
    owner: str,
    name: str,
    body: AccessChange,
    request: Request,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    deployment = deployments.get_managed(session, principal, owner, name)
    deployments.set_access(session, deployment, body.public, body.users, body.groups)
    if body.sandbox is not None:
        user_content.set_sandbox(session, deployment, body.sandbox)
    return deployments.public_view(deployment, user_content_root(request))


@router.delete("/deployments/{owner}/{name}", status_code=204)
def remove_deployment(
    owner: str, name: str, context: ContextDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    deployment = deployments.get_managed(session, principal, owner, name)
    deployments.remove(session, context.settings, deployment)
    return Response(status_code=204)


@router.post("/deployments/{owner}/{name}/tokens", status_code=201)
def create_token(
    owner: str, name: str, body: TokenCreate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    deployment = deployments.get_managed(session, principal, owner, name)
    expires = timedelta(seconds=body.expires_in_seconds) if body.expires_in_seconds else None
    row, secret = deployments.create_token(session, principal, deployment, body.name, expires)
    return {
        "name": row.name,
        "token": secret,
        "scopes": list(row.scopes),
        "deployment": f"{deployment.owner.login}/{deployment.name}",
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


# last: its {action} must not shadow /tokens
@router.post("/deployments/{owner}/{name}/{action}")
def stop_or_start(
    owner: str,
    name: str,
    action: Literal["stop", "start"],
    request: Request,
    context: ContextDep,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    deployment = deployments.get_managed(session, principal, owner, name)
    change = deployments.stop if action == "stop" else deployments.start
    change(session, context.settings, deployment)
    return deployments.public_view(deployment, user_content_root(request))
