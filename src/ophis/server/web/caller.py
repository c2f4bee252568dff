"""Who is browsing: the signed-in account of the session cookie (or no one), and the CSRF
token their forms must carry.

A signed-in browser's forms carry its session's token. A visitor who is not signed in (the
sign-in and sign-up forms) gets a random token in the ``ophis_csrf`` cookie and sends it
back in the form: another site can make the browser post, but can neither read nor set
that cookie, so it cannot know the value.

Deployments and notebooks are served on another origin, which may share this host name
(cookies ignore ports): what they serve could try to plant a cookie of this site's.
The proxy drops such ``Set-Cookie`` headers and sandboxes deployments' script, and here a
request carrying two values of one of this site's cookies (a planted one beside the real
one, on a longer path) is read as carrying neither. A form post must also come from this
site's own pages (:func:`check_origin`): a page of the user-content origin is *same-site*
for the browser, so SameSite cookies alone would not stop it.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from ophis.server.db.models import Account, WebSession
from ophis.server.deps import SessionDep
from ophis.server.errors import Unauthorized
from ophis.server.services.accounts import web_sessions
from ophis.server.services.accounts.authz import Principal

SESSION_COOKIE = "ophis_session"
CSRF_COOKIE = "ophis_csrf"
CSRF_FIELD = "csrf_token"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


@dataclass(frozen=True)
class WebCaller:
    row: WebSession | None
    csrf: str
    #: the CSRF cookie is to be set by this response (a first visit)
    csrf_is_new: bool = False
    #: the browser sent a session cookie that no longer signs anyone in
    stale_session: bool = False

    @property
    def account(self) -> Account | None:
        return self.row.account if self.row else None

    @property
    def principal(self) -> Principal:
        return web_sessions.principal_of(self.row)

    @property
    def expected_csrf(self) -> str | None:
        """What a form must carry; nothing can match a token this response only issues."""
        return None if self.csrf_is_new else self.csrf


def only_cookie(connection: HTTPConnection, name: str) -> str | None:
    """The value of cookie ``name`` when the request carries it once (else None: a second
    value was planted by another origin of this host name, and neither can be trusted)."""
    header = connection.headers.get("cookie", "")
    values = [
        value.strip()
        for key, _, value in (part.partition("=") for part in header.split(";"))
        if key.strip() == name
    ]
    return values[0] if len(values) == 1 else None


def is_secure(request: Request) -> bool:
    """The site is reached over HTTPS (directly, or as its public URL says)."""
    public_url = request.app.state.context.settings.public_url or ""
    return request.url.scheme == "https" or public_url.startswith("https:")


def cookie_name(request: Request, name: str) -> str:
    """``name``, prefixed ``__Host-`` over HTTPS when the site is at the root of its host:
    a browser then takes that cookie only from this host, Secure, for every path, so a
    sibling host (``apps.example.org`` setting ``Domain=example.org``) cannot plant it."""
    public_path = urlsplit(request.app.state.context.settings.public_url or "").path
    return f"__Host-{name}" if is_secure(request) and not public_path.strip("/") else name


def caller_for(request: Request, session: Session) -> WebCaller:
    secret = only_cookie(request, cookie_name(request, SESSION_COOKIE))
    row = web_sessions.find_session(session, secret) if secret else None
    if row is not None:
        caller = WebCaller(row, row.csrf_token)
    else:
        known = only_cookie(request, cookie_name(request, CSRF_COOKIE)) or ""
        caller = WebCaller(
            None,
            known if _TOKEN.match(known) else secrets.token_urlsafe(32),
            csrf_is_new=not _TOKEN.match(known),
            stale_session=cookie_name(request, SESSION_COOKIE) in request.cookies,
        )
    request.state.web_caller = caller
    return caller


def current_caller(request: Request) -> WebCaller:
    """The caller a route already found, or found now (an error before any route ran)."""
    known = getattr(request.state, "web_caller", None)
    if known is not None:
        return known
    with request.app.state.context.sessions() as session:
        return caller_for(request, session)


def get_caller(request: Request, session: SessionDep) -> WebCaller:
    return caller_for(request, session)


CallerDep = Annotated[WebCaller, Depends(get_caller)]


async def get_form_caller(request: Request, caller: CallerDep) -> WebCaller:
    """The caller of a form post whose CSRF token matches (403 otherwise). Checked before
    the form's own fields, so a forged post is refused whatever it carries."""
    check_origin(request)
    sent = (await request.form()).get(CSRF_FIELD)
    web_sessions.check_csrf(caller.expected_csrf, sent if isinstance(sent, str) else None)
    return caller


def check_origin(request: Request) -> None:
    """A form post from another origin is refused, also from a same-site one (the
    user-content origin): the browser's ``Sec-Fetch-Site``, else its ``Origin``, says
    where the post came from; a client that sends neither is not a browser."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site not in ("same-origin", "none"):
            raise web_sessions.FormExpired()
        return
    origin = request.headers.get("origin")
    if origin is not None and origin not in _own_origins(request):
        raise web_sessions.FormExpired()


def _own_origins(request: Request) -> set[str]:
    """This site's origin as the request names it, and as its public URL does."""
    url, public = request.url, request.app.state.context.settings.public_url
    origins = {f"{url.scheme}://{url.netloc}"}
    if public:
        parts = urlsplit(public)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


FormCallerDep = Annotated[WebCaller, Depends(get_form_caller)]


def _signed_in(caller: WebCaller) -> WebCaller:
    if caller.row is None:
        raise Unauthorized("Sign in to see this page.", "Sign in, then try again.")
    return caller


# async: no I/O, and FastAPI runs sync dependencies in its thread pool
async def get_signed_in(caller: CallerDep) -> WebCaller:
    return _signed_in(caller)


async def get_signed_in_form(caller: FormCallerDep) -> WebCaller:
    return _signed_in(caller)


SignedInDep = Annotated[WebCaller, Depends(get_signed_in)]
SignedInFormDep = Annotated[WebCaller, Depends(get_signed_in_form)]

#: a text field of a posted form
Field = Annotated[str, Form()]
