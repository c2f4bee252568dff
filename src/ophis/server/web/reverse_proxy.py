"""Forwarding a request to a process of this host (a notebook server, a deployment): HTTP
streamed both ways, and WebSockets carried message by message.

What the server itself reads is never passed on: its cookies (session, CSRF, the
user-content origin's app sessions), and the caller's Ophis token (``Authorization``).
Nothing the app answers may set one of those cookies: such ``Set-Cookie`` headers are
dropped, as are nameless ones (a browser sends their value as if it were ``name=value``).
Hop-by-hop headers stay on their hop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from typing import Any

import httpx
from fastapi import Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.websockets import WebSocketDisconnect

from ophis.server.errors import NotFound

#: headers that belong to one hop (RFC 9110 section 7.6.1), never forwarded
HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
#: opens the upstream WebSocket, given the headers and subprotocols to send
Connect = Callable[[list[tuple[str, str]], list[str]], Awaitable[Any]]


def is_own_cookie(name: str) -> bool:
    """A cookie name the server reads or could be mistaken for one it reads (every name of
    the server's starts ``ophis_``, ``__Host-ophis_`` or ``__Secure-ophis_``)."""
    name = name.strip().lower()
    return not name or "ophis" in name


def forwarded_cookies(header: str | None) -> str | None:
    """The request's cookies but the server's own."""
    if not header:
        return None
    jar: SimpleCookie = SimpleCookie()
    jar.load(header)
    kept = [f"{k}={m.coded_value}" for k, m in jar.items() if not is_own_cookie(k)]
    return "; ".join(kept) or None


def _sets_own_cookie(set_cookie: str) -> bool:
    first = set_cookie.split(";", 1)[0]
    name, equals, _ = first.partition("=")
    return not equals or is_own_cookie(name)


def answer_headers(
    headers: httpx.Headers, extra: list[tuple[str, str]]
) -> list[tuple[bytes, bytes]]:
    """The app's response headers as the browser gets them: no hop-by-hop headers, no
    cookie of the server's, then ``extra`` (replacing the app's headers of those names,
    but its Content-Security-Policy, which applies alongside: the browser enforces both)."""
    replaced = {k.lower() for k, _ in extra} - {"content-security-policy"}
    kept = [
        (k, v)
        for k, v in headers.multi_items()
        if k.lower() not in HOP_HEADERS
        and k.lower() not in replaced
        and not (k.lower() == "set-cookie" and _sets_own_cookie(v))
    ]
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in [*kept, *extra]]


def request_headers(request: Request) -> list[tuple[str, str]]:
    dropped = HOP_HEADERS | {"cookie", "authorization"}
    headers = [(k, v) for k, v in request.headers.items() if k not in dropped]
    cookies = forwarded_cookies(request.headers.get("cookie"))
    if cookies:
        headers.append(("cookie", cookies))
    return headers


async def forward_http(
    request: Request,
    url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
) -> Response:
    """Send ``request`` to ``url`` and stream the answer back, with ``extra_headers``."""
    client = httpx.AsyncClient(transport=transport, timeout=None)
    upstream = client.build_request(
        request.method,
        url,
        headers=request_headers(request),
        content=request.stream(),
    )
    try:
        answer = await client.send(upstream, stream=True)
    except httpx.HTTPError:
        await client.aclose()
        raise NotFound(
            "The service behind this address does not answer.",
            "It may be starting or stopped: try again in a moment.",
        ) from None

    async def close() -> None:
        await answer.aclose()
        await client.aclose()

    response = StreamingResponse(
        answer.aiter_raw(), status_code=answer.status_code, background=BackgroundTask(close)
    )
    response.raw_headers = answer_headers(answer.headers, extra_headers or [])
    return response


async def forward_websocket(websocket: WebSocket, connect: Connect) -> None:
    """Accept ``websocket`` once the upstream one is open, then carry messages both ways
    until either side closes."""
    from websockets.exceptions import ConnectionClosed

    headers = [(k, v) for k, v in websocket.headers.items() if k in ("origin", "user-agent")]
    cookies = forwarded_cookies(websocket.headers.get("cookie"))
    if cookies:
        headers.append(("cookie", cookies))
    offered = websocket.headers.get("sec-websocket-protocol", "")
    protocols = [p.strip() for p in offered.split(",") if p.strip()]
    try:
        upstream = await connect(headers, protocols)
    except Exception:  # refused, or not a WebSocket endpoint: nothing to carry
        await websocket.close(code=1011)
        return
    await websocket.accept(subprotocol=upstream.subprotocol)

    async def to_upstream() -> None:
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                await upstream.send(data if data is not None else message.get("text", ""))
        except WebSocketDisconnect:
            pass
        finally:
            await upstream.close()

    async def to_browser() -> None:
        try:
            async for data in upstream:
                if isinstance(data, bytes):
                    await websocket.send_bytes(data)
                else:
                    await websocket.send_text(data)
        except ConnectionClosed:
            pass
        finally:
            with contextlib.suppress(RuntimeError):  # the browser closed first
                await websocket.close()

    pumps = [asyncio.create_task(to_upstream()), asyncio.create_task(to_browser())]
    _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
