"""``/pypi/<owner>[/label/<label>]/simple/``: the simple repository API (PEP 503, PEP 691),
and the files its pages link to.

URLs without their trailing slash are redirected relatively (``Location: simple/``), so a
token in the path (``/pypi/t/<token>/...``, taken out by the middleware) survives.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from ophis.core.distribution_types import DistributionType
from ophis.server.conda.moved import moved_file_redirect
from ophis.server.conda.responses import CacheDep, LabelDep, document_response, file_response
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.errors import NotFound
from ophis.server.services.channels import pypi_index

router = APIRouter(prefix="/pypi", include_in_schema=False)
_GET_HEAD = ["GET", "HEAD"]
_LABEL = "/{owner}/label/{label}"
_VARY = "Accept, Authorization"
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/vnd.pypi.simple.latest+json")


@router.api_route(f"{_LABEL}/simple/", methods=_GET_HEAD)
@router.api_route("/{owner}/simple/", methods=_GET_HEAD)
def project_list(
    owner: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    form = negotiate(request.headers.get("accept", ""))
    artifact = pypi_index.project_list(session, cache, principal, owner, label, form)
    return document_response(request, artifact, principal, vary=_VARY)


@router.api_route(f"{_LABEL}/simple/{{project}}/", methods=_GET_HEAD)
@router.api_route("/{owner}/simple/{project}/", methods=_GET_HEAD)
def project_page(
    owner: str,
    project: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    form = negotiate(request.headers.get("accept", ""))
    artifact = pypi_index.project_page(session, cache, principal, owner, label, project, form)
    return document_response(request, artifact, principal, vary=_VARY)


@router.api_route(f"{_LABEL}/simple", methods=_GET_HEAD)
@router.api_route("/{owner}/simple", methods=_GET_HEAD)
@router.api_route(f"{_LABEL}/simple/{{project}}", methods=_GET_HEAD)
@router.api_route("/{owner}/simple/{project}", methods=_GET_HEAD)
def add_slash(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url.path.rsplit("/", 1)[-1] + "/", status_code=301)


@router.api_route(f"{_LABEL}/files/{{filename}}", methods=_GET_HEAD)
@router.api_route("/{owner}/files/{filename}", methods=_GET_HEAD)
def python_file(
    owner: str,
    filename: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> Response:
    try:
        download = pypi_index.open_python_file(
            session, principal, owner, label, filename, count=request.method == "GET"
        )
    except NotFound as missing:
        scope = pypi_index.SCOPE
        return moved_file_redirect(
            missing, request, session, principal, filename, DistributionType.PYPI, scope, "files"
        )
    return file_response(request, context.storage, download, principal)


def negotiate(accept: str) -> str:
    """PEP 691: JSON when the client prefers it (pip does), HTML otherwise."""
    best, best_quality = pypi_index.HTML, 0.0
    for offer in accept.split(","):
        media_type, *params = (part.strip() for part in offer.split(";"))
        quality = next(
            (_quality(p[2:]) for p in params if p.startswith("q=")),
            1.0,
        )
        if media_type in _JSON_TYPES and quality > best_quality:
            best, best_quality = pypi_index.JSON, quality
        elif media_type and quality > best_quality:
            best, best_quality = pypi_index.HTML, quality
    return best


def _quality(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
