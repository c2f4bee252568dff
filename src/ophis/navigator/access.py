"""Who may use the navigator: the browser that opened its one-time link.

The navigator listens on 127.0.0.1 only. Its URL carries a one-time token; the first visit
exchanges it for a session cookie (HttpOnly, SameSite=Strict) and every other request
without that cookie gets 403 — another local user, or a web page in the browser trying to
reach the port, cannot use it. A Host header other than a loopback name is refused (DNS
rebinding), and a form posted from another origin is refused.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from urllib.parse import urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

COOKIE = "ophis_navigator"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
_FORBIDDEN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Forbidden · Ophis Navigator</title></head><body>
<h1>This Ophis Navigator needs its sign-in link</h1>
<p>{why}</p>
<p>Open the link <code>ophis navigator</code> printed (it works once), or start it again
with <code>ophis navigator</code>.</p></body></html>"""


class Access:
    """The one-time token and the session it is exchanged for."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.session = secrets.token_urlsafe(32)
        self._redeemed = False
        self._lock = threading.Lock()

    def redeem(self, token: str) -> bool:
        """True once: for the first request that carries the right token."""
        with self._lock:
            if self._redeemed or not hmac.compare_digest(token, self.token):
                return False
            self._redeemed = True
            return True

    def admits(self, cookie: str | None) -> bool:
        return cookie is not None and hmac.compare_digest(cookie, self.session)


def forbidden(why: str) -> Response:
    return HTMLResponse(_FORBIDDEN.format(why=why), status_code=403)


def check(access: Access, request: Request) -> Response | None:
    """None when the request may go on; else the answer it gets."""
    if request.url.hostname not in LOOPBACK:
        return forbidden("The navigator answers only on 127.0.0.1.")
    token = request.query_params.get("token")
    if token is not None:
        if not access.redeem(token):
            return forbidden("That link was used already, or its token is wrong.")
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
        response.set_cookie(COOKIE, access.session, httponly=True, samesite="strict", path="/")
        return response
    if not access.admits(request.cookies.get(COOKIE)):
        return forbidden("This browser has not opened the navigator's link.")
    if request.method not in ("GET", "HEAD") and not _same_origin(request):
        return forbidden("The form was sent from another site.")
    return None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.headers.get("host")
