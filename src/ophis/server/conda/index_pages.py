"""The pages conda-index writes beside a channel's repodata: ``index.html`` of the channel
and of each subdir, and ``rss.xml``.

A browser at a channel's directory URL (``/conda/<owner>/``, ``/conda/<owner>/<subdir>/``,
the same under ``/label/<label>/``) gets the index page. Those routes are chosen by content
negotiation: they match only a request that prefers HTML (a browser's ``Accept``), so conda,
rattler, pip and curl, which ask for ``*/*`` or JSON, get exactly what they got before. The
``index.html`` and ``rss.xml`` URLs answer everyone. Links in the pages are relative, so a
token in the path (``/conda/t/<token>/...``) stays in every link.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import Scope

from ophis.core.platform import KNOWN_SUBDIRS
from ophis.server.conda.responses import CacheDep, LabelDep, document_response
from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog.files import channel_path
from ophis.server.services.channels import channel_index
from ophis.server.services.channels.browse import MAX_PAGE
from ophis.server.services.channels.channel_cache import Artifact, etag_of
from ophis.server.web import links
from ophis.server.web.rendering import SECURITY_HEADERS, TEMPLATES, base_of, root_of

_GET_HEAD = ["GET", "HEAD"]
_LABEL = "/{owner}/label/{label}"
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_HTML = "text/html; charset=utf-8"


def prefers_html(accept: str) -> bool:
    """Does the client rank HTML first? Wildcards (``*/*``, what conda and curl send) do
    not count as asking for it."""
    html = other = 0.0
    for offer in accept.lower().split(","):
        media_type, *params = (part.strip() for part in offer.split(";"))
        quality = next((_quality(p[2:]) for p in params if p.startswith("q=")), 1.0)
        if media_type in _HTML_TYPES:
            html = max(html, quality)
        elif media_type and "*" not in media_type:
            other = max(other, quality)
    return html > 0 and html >= other


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0


class BrowserRoute(APIRoute):
    """A route that only a request preferring HTML matches; any other request goes on to
    the routes after it as if this one were not there."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and not prefers_html(Headers(scope=scope).get("accept", "")):
            return Match.NONE, {}
        return match, child


class BrowserSubdirRoute(BrowserRoute):
    """A :class:`BrowserRoute` for ``.../<subdir>`` of conda's platforms only: the same
    URLs name trust files (``1.root.json``), which stay the channel routes' to answer."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE and child["path_params"].get("subdir") not in KNOWN_SUBDIRS:
            return Match.NONE, {}
        return match, child


#: registered before the channel routes, whose ``/<owner>/<filename>`` would take these
router = APIRouter(prefix="/conda", include_in_schema=False)
browser_router = APIRouter(prefix="/conda", include_in_schema=False, route_class=BrowserRoute)


@router.api_route(f"{_LABEL}/rss.xml", methods=_GET_HEAD)
@router.api_route("/{owner}/rss.xml", methods=_GET_HEAD)
def rss(
    owner: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    url = links.channel_url(root_of(request), owner, label)
    artifact = channel_index.channel_feed(session, cache, principal, owner, label, url)
    return document_response(request, artifact, principal)


@browser_router.api_route(f"{_LABEL}/", methods=_GET_HEAD)
@browser_router.api_route("/{owner}/", methods=_GET_HEAD)
@router.api_route(f"{_LABEL}/index.html", methods=_GET_HEAD)
@router.api_route("/{owner}/index.html", methods=_GET_HEAD)
def channel_page(
    owner: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    index = channel_index.channel_index(session, cache, principal, owner, label)
    data = index.channeldata
    return _page(
        request,
        principal,
        "conda_channel.html",
        title=channel_path(index.owner.login, label),
        index=index,
        packages=sorted((data.get("packages") or {}).items()),
        subdirs=data.get("subdirs") or [],
    )


@browser_router.api_route(f"{_LABEL}/{{subdir}}/", methods=_GET_HEAD)
@browser_router.api_route("/{owner}/{subdir}/", methods=_GET_HEAD)
@router.api_route(f"{_LABEL}/{{subdir}}/index.html", methods=_GET_HEAD)
@router.api_route("/{owner}/{subdir}/index.html", methods=_GET_HEAD)
def subdir_page(
    owner: str,
    subdir: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
) -> Response:
    index = channel_index.subdir_index(session, principal, owner, label, subdir, page)
    title = f"{channel_path(index.owner.login, label)}/{subdir}"
    return _page(request, principal, "conda_subdir.html", title=title, index=index)


@browser_router.api_route(_LABEL, methods=_GET_HEAD)
@browser_router.api_route("/{owner}", methods=_GET_HEAD)
def add_slash(request: Request) -> RedirectResponse:
    """Relative, so that a token in the path survives."""
    return RedirectResponse(request.url.path.rsplit("/", 1)[-1] + "/", status_code=301)


for _path in (f"{_LABEL}/{{subdir}}", "/{owner}/{subdir}"):
    browser_router.add_api_route(
        _path, add_slash, methods=_GET_HEAD, route_class_override=BrowserSubdirRoute
    )


def _page(request: Request, principal: Principal, template: str, **context: Any) -> Response:
    html = TEMPLATES.get_template(template).render(
        base=base_of(request), root=root_of(request), **context
    )
    body = html.encode()
    artifact = Artifact(body, etag_of(body), time.time(), _HTML)
    response = document_response(request, artifact, principal, vary="Accept, Authorization")
    response.headers.update(SECURITY_HEADERS)
    return response
