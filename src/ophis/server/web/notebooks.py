"""``/notebooks``: start and stop your JupyterLab; ``/notebooks/<login>/...``: the proxy to it.

The proxy lets through the web session of ``<login>`` only (every other session is refused
with 403, no session is sent to sign in), strips the server's own cookies from what it
forwards, and carries WebSockets (kernels, terminals) as well as HTTP. JupyterLab's own
XSRF checks stay on: the browser's Host and Origin are passed through unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Form, Request, Response, WebSocket
from starlette.concurrency import run_in_threadpool

from ophis.server.errors import Forbidden, NotFound, Unauthorized
from ophis.server.services import notebooks, web_sessions
from ophis.server.services.notebooks import NotebookServer
from ophis.server.settings import ServerSettings
from ophis.server.web.caller import SESSION_COOKIE, SignedInDep, SignedInFormDep
from ophis.server.web.rendering import redirect, render
from ophis.server.web.reverse_proxy import METHODS, forward_http, forward_websocket

router = APIRouter(prefix="/notebooks", include_in_schema=False)


def _settings(request: Request | WebSocket) -> ServerSettings:
    settings: ServerSettings = request.app.state.context.settings
    if not settings.notebooks_enabled:
        raise NotFound("Notebooks are turned off on this server.", "Ask its administrator.")
    return settings


@router.get("")
def notebooks_page(request: Request, caller: SignedInDep) -> Response:
    """Also when notebooks cannot start here: the page says why."""
    settings: ServerSettings = request.app.state.context.settings
    login = caller.account.login  # type: ignore[union-attr]
    problem = notebooks.cannot_start(settings)
    return render(
        request,
        caller,
        "notebooks.html",
        server=None if problem else notebooks.running(settings, login),
        environments=notebooks.environments(settings, login),
        problem=problem,
        settings=settings,
    )


@router.post("/start")
def start_notebook(
    request: Request,
    caller: SignedInFormDep,
    environment: Annotated[str, Form()] = notebooks.DEFAULT_ENVIRONMENT,
) -> Response:
    login = caller.account.login.lower()  # type: ignore[union-attr]
    notebooks.start(_settings(request), login, environment)
    return redirect(request, f"/notebooks/{login}/lab")


@router.post("/stop")
def stop_notebook(request: Request, caller: SignedInFormDep) -> Response:
    notebooks.stop(_settings(request), caller.account.login)  # type: ignore[union-attr]
    return redirect(request, "/notebooks")


# --- the proxy ---------------------------------------------------------------------------


def _owner_server(
    settings: ServerSettings, context: Any, cookie: str | None, login: str
) -> NotebookServer:
    """The notebook server of ``login`` when the session cookie signs ``login`` in."""
    with context.sessions() as session:
        row = web_sessions.find_session(session, cookie) if cookie else None
        signed_in = row.account.login_key if row is not None else None
    if signed_in is None:
        raise Unauthorized("Sign in to reach your notebooks.", "Sign in, then try again.")
    if signed_in != login.lower():
        raise Forbidden(
            "This notebook server belongs to another user.",
            "Open your own notebooks at /notebooks.",
        )
    server = notebooks.running(settings, login)
    if server is None:
        raise NotFound("Your notebook server is not running.", "Start it from the Notebooks page.")
    notebooks.touch(settings, login)
    return server


async def _authorized(connection: Request | WebSocket, login: str) -> NotebookServer:
    settings = _settings(connection)
    cookie = connection.cookies.get(SESSION_COOKIE)
    context = connection.app.state.context
    return await run_in_threadpool(_owner_server, settings, context, cookie, login)


def _upstream_url(scheme: str, host: str, login: str, path: str, query: str) -> str:
    url = f"{scheme}://{host}/notebooks/{login.lower()}/{path}"
    return f"{url}?{query}" if query else url


@router.api_route("/{login}/{path:path}", methods=METHODS)
async def proxy_http(request: Request, login: str, path: str) -> Response:
    server = await _authorized(request, login)
    host = request.headers.get("host", "notebook")
    return await forward_http(
        request,
        _upstream_url("http", host, login, path, request.url.query),
        transport=httpx.AsyncHTTPTransport(uds=server.socket),
        keep_authorization=True,  # JupyterLab's own tokens, never an Ophis one here
    )


@router.websocket("/{login}/{path:path}")
async def proxy_websocket(websocket: WebSocket, login: str, path: str) -> None:
    from websockets.asyncio.client import unix_connect

    try:
        server = await _authorized(websocket, login)
    except (Unauthorized, Forbidden, NotFound):
        await websocket.close(code=1008)  # policy violation
        return
    host = websocket.headers.get("host", "notebook")
    url = _upstream_url("ws", host, login, path, websocket.url.query)

    async def connect(headers: list[tuple[str, str]], protocols: list[str]) -> object:
        return await unix_connect(
            server.socket,
            url,
            additional_headers=headers,
            subprotocols=protocols or None,  # type: ignore[arg-type]
            max_size=None,
        )

    await forward_websocket(websocket, connect)
