"""ASGI middleware that looks at the raw path before any route does.

:class:`PathTokenMiddleware` takes a ``/t/<token>/`` segment out of channel and index URLs,
as Anaconda.org does: conda inserts the token right after the channel location, so it may
come first in the path (``/t/<tok>/conda/...``) or after the ``conda``/``pypi`` prefix
(``/conda/t/<tok>/...``). :class:`NulPathMiddleware` answers 404 to paths holding a NUL
byte, which name nothing and which PostgreSQL refuses in a query parameter.
"""

from __future__ import annotations

import re
from typing import Any

from ophis.server.errors import error_json

_PATTERN = re.compile(r"^(/(?:conda|pypi))?/t/([A-Za-z0-9-]+)(/.*)$")
_RAW_PATTERN = re.compile(rb"^(/(?:conda|pypi))?/t/[A-Za-z0-9-]+(/.*)$")


class PathTokenMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = _PATTERN.match(scope["path"])
            if match:
                prefix, token, rest = match.groups()
                path = (prefix or "") + rest
                scope = dict(scope, path=path)
                if scope.get("raw_path"):
                    scope["raw_path"] = _RAW_PATTERN.sub(rb"\1\2", scope["raw_path"])
                scope.setdefault("state", {})["path_token"] = token
        await self.app(scope, receive, send)


class NulPathMiddleware:
    _BODY = error_json("There is no such page: its URL holds a NUL byte (%00).", "Check the URL.")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "\x00" in scope["path"]:
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(self._BODY)),
            ]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": self._BODY})
            return
        await self.app(scope, receive, send)


class UserContentMiddleware:
    """Sends what arrives on the user-content port to the user-content app: no request
    there reaches the site's routes, whatever its Host header or path says."""

    def __init__(self, app: Any, user_content: Any, port: int) -> None:
        self.app, self.user_content, self.port = app, user_content, port

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        server = scope.get("server") or (None, None)
        if scope["type"] in ("http", "websocket") and server[1] == self.port:
            await self.user_content(scope, receive, send)
            return
        await self.app(scope, receive, send)
