"""Every request body is bounded before it is read.

:class:`BodyLimitMiddleware` sits outside every route: a ``Content-Length`` over the route's
limit is answered 413 before a byte of the body is read, and a body without one (chunked)
is counted as it streams, the request failing with 413 as soon as it passes the limit. So
no route, form parser (python-multipart) or JSON decoder ever holds more than the limit.

The limits: package uploads (the storage POST) and what the notebook and deployment proxies
pass through may be as large as ``max_upload_bytes``, a project archive to deploy as
``MAX_ARCHIVE_BYTES``; every other body (JSON and form APIs, the web site's forms) is small,
``max_request_bytes``.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException

from ophis.server.errors import error_json
from ophis.server.services.hosting.deployments import MAX_ARCHIVE_BYTES
from ophis.server.settings import ServerSettings

#: room for the storage POST's form fields before the file part (the file itself is held to
#: ``max_upload_bytes`` by the upload route, which answers the client in S3's XML)
_FORM_FIELDS = 1024**2
_UPLOAD_PATHS = re.compile(r"^/api/storage/[^/]+$")
_ARCHIVE_PATHS = re.compile(r"^/api/deployments/[^/]+/[^/]+$")
_PROXIED_PATHS = re.compile(r"^/(?:notebooks/[^/]+|deployments/[^/]+/[^/]+)/")


def limit_for(settings: ServerSettings, method: str, path: str) -> int:
    """The largest body a request may carry, in bytes."""
    if method == "POST" and _UPLOAD_PATHS.match(path):
        return settings.max_upload_bytes + _FORM_FIELDS
    if method == "POST" and _ARCHIVE_PATHS.match(path):
        return MAX_ARCHIVE_BYTES
    if _PROXIED_PATHS.match(path):
        return settings.max_upload_bytes
    return settings.max_request_bytes


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once the body passes its limit (an HTTPException, which
    FastAPI's body parsing passes on rather than turning it into a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"The request body is larger than this server accepts here ({limit} bytes)."


def _answer(limit: int) -> bytes:
    remedy = (
        "Send a smaller body; package files go through `anaconda upload`. The server's"
        " administrator sets the limits (max_request_bytes, max_upload_bytes)."
    )
    return error_json(too_large_message(limit), remedy)


class BodyLimitMiddleware:
    def __init__(self, app: Any, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.settings, scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_too_large(send, limit)
            return
        counter = _Counter(receive, send, limit)
        try:
            await self.app(scope, counter.receive, counter.send)
        except BodyTooLarge:
            if counter.started:
                raise
        if counter.exceeded and not counter.started:
            await _send_too_large(send, limit)


class _Counter:
    """``receive`` counting the body's bytes, and ``send`` holding back whatever the app
    answers once the body went over the limit (an error of its own making, such as a form
    parser's or an upload route's), so that the client gets the 413."""

    def __init__(self, receive: Any, send: Any, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.received = 0
        self.exceeded = self.started = False

    async def receive(self) -> dict[str, Any]:
        if self.exceeded:
            raise BodyTooLarge(self.limit)
        message: dict[str, Any] = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge(self.limit)
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if self.exceeded and not self.started:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def _send_too_large(send: Any, limit: int) -> None:
    body = _answer(limit)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
