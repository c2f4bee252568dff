"""HTTP Basic auth with a token, on the URLs package managers fetch: conda channels
(``/conda/...``), pip indexes (``/pypi/...``) and file downloads (``/api/download/...`` and
Anaconda.org's ``/<owner>/<package>/<version>/download/...``).

pip, netrc files, keyrings and Artifactory-style setups send ``user:TOKEN``; some tools
send the token as the user name with an empty password. Either way the token is taken as
if it were in the URL (``/t/<token>/``), so it is scoped, expiring and revocable like any
other; the user name beside it is ignored (many tools insist on one). An account password
is refused here, without being checked: a password does not belong in a URL or a netrc
file, and these paths are no place to guess one (the sign-in throttle guards the others).

A 401 on these paths (a wrong, expired or revoked credential) carries ``WWW-Authenticate:
Basic``, so that pip asks its keyring or the user again; elsewhere the API keeps
anaconda-client's ``token`` scheme. A request without credentials still gets 404 for what
it may not see, which tells nothing of what exists.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ophis.security.tokens import PREFIX as TOKEN_PREFIX
from ophis.server.errors import error_json

#: where a Basic credential is read (after the /t/<token>/ segment was taken out)
BASIC_PATHS = ("/conda/", "/pypi/", "/api/download/")
#: Anaconda.org's download URL of a release's file
_RELEASE_DOWNLOAD = re.compile(r"^/[^/]+/[^/]+/[^/]+/download/")
CHALLENGE = b'Basic realm="ophis channels", charset="UTF-8"'
_REMEDY = (
    "Give a token as the password (https://any-name:TOKEN@host/...; create one with"
    " `anaconda auth --create`), never your account password."
)


def basic_token(header: str) -> str | None:
    """The token of an ``Authorization: Basic`` value: the password, or the user name when
    the password is empty. None when the credential holds no token (a password)."""
    try:
        user, _, password = base64.b64decode(header, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    for candidate in (password, user if not password else ""):
        if candidate.startswith(f"{TOKEN_PREFIX}-"):
            return candidate
    return None


def _takes_basic(path: str) -> bool:
    return path.startswith(BASIC_PATHS) or _RELEASE_DOWNLOAD.match(path) is not None


class BasicTokenMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not _takes_basic(scope["path"]):
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            token = basic_token(value.strip())
            if token is None:
                await _refuse(send)
                return
            scope.setdefault("state", {}).setdefault("path_token", token)

        async def challenging_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"www-authenticate", CHALLENGE)],
                }
            await send(message)

        await self.app(scope, receive, challenging_send)


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def _refuse(send: Any) -> None:
    body = error_json("Basic credentials here take a token, not a password.", _REMEDY)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"www-authenticate", CHALLENGE),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
