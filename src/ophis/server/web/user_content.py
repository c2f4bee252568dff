"""The user-content origin: deployments and notebook servers, never on the site's origin.

The server listens on a second port (``user_content_port``) for them; what arrives there is
answered by the small app :func:`create_user_content_app` builds, which knows no page,
form or API of the site, and never reads the site's session cookie. The site's own
``/deployments/...`` and ``/notebooks/...`` addresses only send the browser here.

Who a caller is, on this origin:

- a deployment's API caller sends an Ophis token (``Authorization: Bearer``, or
  ``/t/<token>/`` before the path), as before;
- a browser gets an app session from the site: a one-time ticket
  (:mod:`ophis.server.services.hosting.user_content`) redeemed at :data:`ENTER_PATH` for a cookie
  scoped to that one app's path. A browser that has none for a private app is sent to the
  site's address of the app, which signs it in and hands it over.

What the app answers gets a Content-Security-Policy: a deployment's runs in a CSP sandbox
(:data:`ServerSettings.user_content_sandbox` unless its owner set one), so by default its
script has an opaque origin (no cookies, no storage, no reading of other apps on this
origin); every answer says ``nosniff`` and may be framed by its own origin only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request, Response, WebSocket
from fastapi.responses import JSONResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from ophis.core.errors import OphisError
from ophis.server.db.models import Account, Deployment
from ophis.server.deps import request_token
from ophis.server.errors import Forbidden, NotFound, Unauthorized, error_body
from ophis.server.middleware import NulPathMiddleware, PathTokenMiddleware
from ophis.server.origins import site_root, user_content_root
from ophis.server.services.accounts import tokens
from ophis.server.services.accounts.authz import ANONYMOUS, Principal
from ophis.server.services.hosting import deployments, notebooks, user_content
from ophis.server.settings import ServerSettings
from ophis.server.web.caller import only_cookie
from ophis.server.web.reverse_proxy import METHODS, forward_http, forward_websocket

#: where a ticket is redeemed (no app is served under ``/.ophis``)
ENTER_PATH = "/.ophis/enter"
#: the app session's cookie, scoped to one app's path
APP_COOKIE = "ophis_app"
#: the headers of this origin's own answers (errors, redirects)
_OWN_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

router = APIRouter(include_in_schema=False)


# --- the way in from the site ------------------------------------------------------------


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def moved(request: Request) -> RedirectResponse:
    """307 to the same path and query on the user-content origin (method and body kept)."""
    url = _with_query(user_content_root(request) + request.url.path, request.url.query)
    return RedirectResponse(url, status_code=307, headers=_OWN_HEADERS)


def hand_over(
    request: Request, session: Session, account: Account, target: str, path: str
) -> Response:
    """Send a signed-in browser of the site to ``path`` of ``target`` on the user-content
    origin, with a ticket that signs it in to that app there."""
    ticket = user_content.issue_ticket(session, account, target)
    next = _with_query(f"/{target}/{path}", request.url.query)
    url = f"{user_content_root(request)}{ENTER_PATH}?{urlencode({'ticket': ticket, 'next': next})}"
    return RedirectResponse(url, status_code=303, headers=_OWN_HEADERS)


# --- signing in on this origin -----------------------------------------------------------


@router.get(ENTER_PATH)
def enter(request: Request, ticket: str = "", next: str = "") -> Response:
    context = request.app.state.context
    with context.sessions() as session:
        target, secret = user_content.redeem_ticket(
            session, ticket, context.settings.session_seconds
        )
    prefix = f"/{target}/"
    if not next.startswith(prefix) or ".." in next or "\\" in next:
        next = prefix
    response = RedirectResponse(next, status_code=303, headers=_OWN_HEADERS)
    response.set_cookie(
        APP_COOKIE,
        secret,
        max_age=context.settings.session_seconds,
        path=prefix,
        httponly=True,
        samesite="lax",
        secure=user_content_root(request).startswith("https:"),
    )
    return response


class _SignInAtSite(Exception):
    """A browser with no app session for a private app: the site signs it in."""

    def __init__(self, url: str) -> None:
        self.url = url


def _is_browser_visit(connection: HTTPConnection) -> bool:
    return (
        isinstance(connection, Request)
        and connection.method in ("GET", "HEAD")
        and "text/html" in connection.headers.get("accept", "")
    )


def _to_site(connection: HTTPConnection) -> _SignInAtSite:
    return _SignInAtSite(
        _with_query(site_root(connection) + connection.url.path, connection.url.query)
    )


def _app_account(session: Session, connection: HTTPConnection, target: str) -> Account | None:
    secret = only_cookie(connection, APP_COOKIE)
    return user_content.account_for(session, secret, target) if secret else None


# --- deployments -------------------------------------------------------------------------


def _deployment_for(connection: HTTPConnection, owner: str, name: str) -> tuple[str, str]:
    """The socket and the CSP sandbox of a deployment the caller may invoke."""
    context = connection.app.state.context
    with context.sessions() as session:
        deployment = deployments.find(session, owner, name)
        principal = _deployment_caller(session, connection, deployment)
        if deployment is None or not deployments.can_invoke(session, principal, deployment):
            if not principal.is_anonymous:
                raise NotFound(
                    f"There is no deployment {owner}/{name} (or it is not yours to call).",
                    "Check the address, or ask its owner for access.",
                )
            if _is_browser_visit(connection):
                raise _to_site(connection)
            raise Unauthorized(
                f"The deployment {owner}/{name} needs a token (or does not exist).",
                "Send `Authorization: Bearer <deployment token>` "
                "(`ophis deployment token create`).",
            )
        sandbox = deployment.sandbox
        return _running_socket(context.settings, deployment), (
            context.settings.user_content_sandbox if sandbox is None else sandbox
        )


def _deployment_caller(
    session: Session, connection: HTTPConnection, deployment: Deployment | None
) -> Principal:
    token = request_token(connection)  # type: ignore[arg-type]
    if token:
        return tokens.principal_for(session, token)
    if deployment is None:
        return ANONYMOUS
    target = user_content.deployment_target(deployment.owner.login, deployment.name)
    account = _app_account(session, connection, target)
    if account is None:
        return ANONYMOUS
    return Principal(account=account, scopes=frozenset({deployments.SCOPE}))


def _running_socket(settings: ServerSettings, deployment: Deployment) -> str:
    if deployment.status != deployments.RUNNING or deployment.pid is None:
        where = f"{deployment.owner.login}/{deployment.name}"
        raise NotFound(
            f"The deployment {where} is {deployment.status}.",
            "Its owner can start it with `ophis deployment start`.",
        )
    return str(deployments.socket_path(settings, deployment.pid))


def deployment_headers(sandbox: str) -> list[tuple[str, str]]:
    policy = "frame-ancestors 'self'"
    if sandbox != user_content.SANDBOX_OFF:
        policy = f"{f'sandbox {sandbox}'.strip()}; {policy}"
    return [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff")]


def _local_url(scheme: str, path: str, query: str) -> str:
    """The address a request has in the deployment (the host is the socket's)."""
    return _with_query(f"{scheme}://127.0.0.1/{path}", query)


@router.api_route("/deployments/{owner}/{name}/{path:path}", methods=METHODS)
async def deployment_http(request: Request, owner: str, name: str, path: str) -> Response:
    import httpx

    socket, sandbox = await run_in_threadpool(_deployment_for, request, owner, name)
    return await forward_http(
        request,
        _local_url("http", path, request.url.query),
        transport=httpx.AsyncHTTPTransport(uds=socket),
        extra_headers=deployment_headers(sandbox),
    )


@router.websocket("/deployments/{owner}/{name}/{path:path}")
async def deployment_websocket(websocket: WebSocket, owner: str, name: str, path: str) -> None:
    from websockets.asyncio.client import unix_connect

    try:
        socket, _ = await run_in_threadpool(_deployment_for, websocket, owner, name)
    except (OphisError, _SignInAtSite):
        await websocket.close(code=1008)  # policy violation
        return
    url = _local_url("ws", path, websocket.url.query)

    async def connect(headers: list[tuple[str, str]], protocols: list[str]) -> object:
        return await unix_connect(
            socket,
            url,
            additional_headers=headers,
            subprotocols=protocols or None,  # type: ignore[arg-type]
            max_size=None,
        )

    await forward_websocket(websocket, connect)


# --- notebooks ---------------------------------------------------------------------------

#: JupyterLab needs its origin (cookies for its XSRF check, storage): no sandbox
NOTEBOOK_HEADERS = [
    ("Content-Security-Policy", "frame-ancestors 'self'"),
    ("X-Content-Type-Options", "nosniff"),
]


def _notebook_for(connection: HTTPConnection, login: str) -> notebooks.NotebookServer:
    """The running notebook server of ``login``, for its owner's app session only."""
    context = connection.app.state.context
    settings: ServerSettings = context.settings
    if not settings.notebooks_enabled:
        raise NotFound("Notebooks are turned off on this server.", "Ask its administrator.")
    with context.sessions() as session:
        account = _app_account(session, connection, user_content.notebook_target(login))
        owner = account.login_key if account is not None else None
    if owner is None:
        if _is_browser_visit(connection):
            raise _to_site(connection)
        raise Unauthorized("Sign in to reach your notebooks.", "Open /notebooks on the site.")
    if owner != login.lower():
        raise Forbidden("This notebook server belongs to another user.", "Open your own.")
    if _sent_from_elsewhere(connection):
        raise Forbidden(
            "A notebook server answers its own pages only.", "Open it from the Notebooks page."
        )
    server = notebooks.running(settings, login)
    if server is None:
        raise NotFound("Your notebook server is not running.", "Start it from the Notebooks page.")
    notebooks.touch(settings, login)
    return server


def _sent_from_elsewhere(connection: HTTPConnection) -> bool:
    """A request another origin's page made (the site, a deployment: same-site, as cookies
    ignore ports), but for following a link: JupyterLab's cookie-based XSRF check alone
    would not stop a page that can plant cookies for this host name."""
    fetch_site = connection.headers.get("sec-fetch-site")
    if fetch_site in (None, "same-origin", "none"):
        return False
    navigates = connection.headers.get("sec-fetch-mode") == "navigate"
    return not (navigates and isinstance(connection, Request) and connection.method == "GET")


def _notebook_url(scheme: str, connection: HTTPConnection, login: str, path: str) -> str:
    host = connection.headers.get("host", "notebook")
    url = f"{scheme}://{host}/notebooks/{login.lower()}/{path}"
    return _with_query(url, connection.url.query)


@router.api_route("/notebooks/{login}/{path:path}", methods=METHODS)
async def notebook_http(request: Request, login: str, path: str) -> Response:
    import httpx

    server = await run_in_threadpool(_notebook_for, request, login)
    return await forward_http(
        request,
        _notebook_url("http", request, login, path),
        transport=httpx.AsyncHTTPTransport(uds=server.socket),
        extra_headers=NOTEBOOK_HEADERS,
    )


@router.websocket("/notebooks/{login}/{path:path}")
async def notebook_websocket(websocket: WebSocket, login: str, path: str) -> None:
    from websockets.asyncio.client import unix_connect

    try:
        server = await run_in_threadpool(_notebook_for, websocket, login)
    except (OphisError, _SignInAtSite):
        await websocket.close(code=1008)
        return
    url = _notebook_url("ws", websocket, login, path)

    async def connect(headers: list[tuple[str, str]], protocols: list[str]) -> object:
        return await unix_connect(
            server.socket,
            url,
            additional_headers=headers,
            subprotocols=protocols or None,  # type: ignore[arg-type]
            max_size=None,
        )

    await forward_websocket(websocket, connect)


# --- the app -----------------------------------------------------------------------------


def create_user_content_app(context: Any) -> Any:
    """The ASGI app of the user-content port."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.context = context
    app.include_router(router)

    @app.exception_handler(_SignInAtSite)
    async def sign_in_at_site(_request: Request, error: _SignInAtSite) -> Response:
        return RedirectResponse(error.url, status_code=302, headers=_OWN_HEADERS)

    @app.exception_handler(OphisError)
    async def refused(_request: Request, error: OphisError) -> Response:
        return _error(getattr(error, "status", 400), error.message, error.remedy)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return _error(404, "Not found.", "Check the address.")
        return _error(error.status_code, str(error.detail), "")

    return NulPathMiddleware(PathTokenMiddleware(app))


def _error(status: int, message: str, remedy: str) -> Response:
    return JSONResponse(error_body(message, remedy), status_code=status, headers=_OWN_HEADERS)
