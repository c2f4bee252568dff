"""``/deployments/<owner>/<name>/...``: the proxy to a deployed project.

The caller is whoever the request's Ophis token (``Authorization: Bearer|token``, or
``/t/<token>/`` before the path) or web session stands for; the deployment's rules
(:func:`ophis.server.services.deployments.can_invoke`) decide. No credentials: 401, so a
client knows to send a token; credentials without access: 404, as for anything private.
The deployment sees the path below its prefix (its ``serve`` task was told the prefix in
``$OPHIS_ROOT_PATH``) and never the caller's Ophis token or session.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, WebSocket
from starlette.concurrency import run_in_threadpool

from ophis.server.db.models import Deployment
from ophis.server.deps import request_token
from ophis.server.errors import NotFound, Unauthorized
from ophis.server.services import deployments, tokens, web_sessions
from ophis.server.services.authz import ANONYMOUS
from ophis.server.web.caller import SESSION_COOKIE
from ophis.server.web.reverse_proxy import METHODS, forward_http, forward_websocket

router = APIRouter(prefix="/deployments", include_in_schema=False)


def _port_for(context: Any, token: str | None, cookie: str | None, owner: str, name: str) -> int:
    with context.sessions() as session:
        if token:
            principal = tokens.principal_for(session, token)
        elif cookie and (row := web_sessions.find_session(session, cookie)) is not None:
            principal = web_sessions.principal_of(row)
        else:
            principal = ANONYMOUS
        deployment = deployments.find(session, owner, name)
        if deployment is None or not deployments.can_invoke(session, principal, deployment):
            if principal.is_anonymous:
                raise Unauthorized(
                    f"The deployment {owner}/{name} needs a token (or does not exist).",
                    "Send `Authorization: Bearer <deployment token>` "
                    "(`ophis deployment token create`).",
                )
            raise NotFound(
                f"There is no deployment {owner}/{name} (or it is not yours to call).",
                "Check the address, or ask its owner for access.",
            )
        return _running_port(deployment, owner, name)


def _running_port(deployment: Deployment, owner: str, name: str) -> int:
    if deployment.status != deployments.RUNNING or deployment.port is None:
        raise NotFound(
            f"The deployment {owner}/{name} is {deployment.status}.",
            "Its owner can start it with `ophis deployment start`.",
        )
    return deployment.port


async def _port(connection: Request | WebSocket, owner: str, name: str) -> int:
    token = request_token(connection) if isinstance(connection, Request) else None
    cookie = connection.cookies.get(SESSION_COOKIE)
    context = connection.app.state.context
    return await run_in_threadpool(_port_for, context, token, cookie, owner, name)


def _url(scheme: str, port: int, path: str, query: str) -> str:
    url = f"{scheme}://127.0.0.1:{port}/{path}"
    return f"{url}?{query}" if query else url


@router.api_route("/{owner}/{name}/{path:path}", methods=METHODS)
async def proxy_http(request: Request, owner: str, name: str, path: str) -> Response:
    port = await _port(request, owner, name)
    return await forward_http(request, _url("http", port, path, request.url.query))


@router.websocket("/{owner}/{name}/{path:path}")
async def proxy_websocket(websocket: WebSocket, owner: str, name: str, path: str) -> None:
    from websockets.asyncio.client import connect as ws_connect

    try:
        port = await _port(websocket, owner, name)
    except (Unauthorized, NotFound):
        await websocket.close(code=1008)
        return
    url = _url("ws", port, path, websocket.url.query)

    async def connect(headers: list[tuple[str, str]], protocols: list[str]) -> object:
        return await ws_connect(
            url,
            additional_headers=headers,
            subprotocols=protocols or None,
            max_size=None,  # type: ignore[arg-type]
        )

    await forward_websocket(websocket, connect)
