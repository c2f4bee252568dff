"""Rendering pages: one Jinja2 environment, the headers every page carries, the cookies
pages set, and error pages (HTML for the web site, while the API keeps its JSON)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from jinja2 import pass_context
from jinja2.runtime import Context
from starlette.templating import Jinja2Templates

from ophis.server.api.root import root_url
from ophis.server.services.accounts.authz import is_public
from ophis.server.web.caller import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    WebCaller,
    cookie_name,
    current_caller,
    is_secure,
)

STATIC_DIR = Path(__file__).with_name("static")
TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
#: first path segments that are not pages: their errors stay JSON
_NOT_PAGES = frozenset({"api", "conda", "pypi", "healthz", "readyz", "deployments"})
SECURITY_HEADERS = {
    # no scripts at all; styles, images and forms only from this server; never framed
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# pages show what one account may see (and once, a new token): never cached
_HEADERS = {**SECURITY_HEADERS, "Cache-Control": "no-store"}
#: the same words whether the thing is missing or private to the caller
_NOT_FOUND = (
    "There is nothing here.",
    "The page does not exist, or it is private and you are not signed in as someone who "
    "may see it.",
)


def human_size(size: int) -> str:
    value, unit = float(size), "B"
    for bigger in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def web_url(url: object) -> str:
    """A link from a package's metadata, only when it is http(s) (no ``javascript:``)."""
    text = str(url or "")
    return text if urlsplit(text).scheme in ("http", "https") else ""


@pass_context
def query_with(context: Context, name: str, value: object) -> str:
    """This page's query string with one parameter changed (pagination links)."""
    params = dict(context["request"].query_params)
    params[name] = str(value)
    return urlencode(params)


TEMPLATES.env.filters.update(size=human_size, when=when, web_url=web_url)
TEMPLATES.env.globals["query_with"] = query_with
# ``{% if package is public %}``: the one rule of authz, not a template's own idea of it
TEMPLATES.env.tests["public"] = is_public


def root_of(request: Request) -> str:
    """The server's root URL, as clients reach it (``--public-url`` behind a proxy)."""
    return root_url(request, request.app.state.context)


def base_of(request: Request) -> str:
    """The path of the root URL ('' unless served under a prefix): links start with it."""
    return urlsplit(root_of(request)).path.rstrip("/")


def render(
    request: Request, caller: WebCaller, template: str, *, status: int = 200, **context: Any
) -> Response:
    settings = request.app.state.context.settings
    response = TEMPLATES.TemplateResponse(
        request,
        template,
        {
            "viewer": caller.account,
            "csrf": caller.csrf,
            "allow_signup": settings.allow_signup,
            "root": root_of(request),
            "base": base_of(request),
            **context,
        },
        status_code=status,
        headers=_HEADERS,
    )
    keep_cookies(request, response, caller)
    return response


def error_status(error: Exception) -> int:
    """The HTTP status a page answers with when a service refused a change."""
    return getattr(error, "status", 400)


def error_headers(error: Exception) -> dict[str, str]:
    """The headers a refusal's page carries (``Retry-After`` of the sign-in limit)."""
    return getattr(error, "headers", {})


def redirect(request: Request, path: str) -> RedirectResponse:
    """303 See Other: after a form post the browser GETs the next page."""
    return RedirectResponse(base_of(request) + path, status_code=303)


def cookie_options(request: Request) -> dict[str, Any]:
    secure = is_secure(request)
    return {"httponly": True, "samesite": "lax", "secure": secure, "path": base_of(request) or "/"}


def keep_cookies(request: Request, response: Response, caller: WebCaller) -> None:
    """Give a new visitor the CSRF cookie its forms are checked against; drop a session
    cookie that no longer signs anyone in."""
    options = cookie_options(request)
    if caller.csrf_is_new:
        response.set_cookie(cookie_name(request, CSRF_COOKIE), caller.csrf, **options)
    if caller.stale_session:
        response.delete_cookie(cookie_name(request, SESSION_COOKIE), **options)


def is_page(request: Request) -> bool:
    return request.url.path.lstrip("/").split("/", 1)[0] not in _NOT_PAGES


def error_page(request: Request, status: int, message: str, remedy: str) -> Response:
    """An error as a page; a page that needs a signed-in visitor sends them to sign in."""
    if status == 401 and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(request, f"/login?next={quote(target, safe='')}")
    if status == 404:
        message, remedy = _NOT_FOUND
    return render(
        request,
        current_caller(request),
        "error.html",
        status=status,
        message=message,
        remedy=remedy,
    )
