"""``/conda/<owner>[/label/<label>]/...``: repodata, shards, channeldata and package files.

Label routes are registered first, so that ``/<owner>/label/<label>/channeldata.json`` is
never read as a subdir named ``label``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ophis.core.distribution_types import DistributionType
from ophis.security.signing import ATTESTATION_SUFFIX
from ophis.server.conda.moved import moved_file_redirect
from ophis.server.conda.responses import (
    MAX_AGE,
    CacheDep,
    LabelDep,
    document_response,
    file_response,
)
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.errors import NotFound
from ophis.server.services.channels import attestations, notices, proxy, repodata
from ophis.server.services.trust import signing

router = APIRouter(prefix="/conda", include_in_schema=False)
_GET_HEAD = ["GET", "HEAD"]
_LABEL = "/{owner}/label/{label}"


@router.api_route(f"{_LABEL}/channeldata.json", methods=_GET_HEAD)
@router.api_route("/{owner}/channeldata.json", methods=_GET_HEAD)
def channeldata(
    owner: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    artifact = repodata.channeldata(session, cache, principal, owner, label)
    return document_response(request, artifact, principal)


@router.api_route(f"{_LABEL}/notices.json", methods=_GET_HEAD)
@router.api_route("/{owner}/notices.json", methods=_GET_HEAD)
def channel_notices(
    owner: str, label: LabelDep, session: SessionDep, principal: PrincipalDep
) -> Response:
    """The channel's notices as conda reads them (``conda notices``, ``conda install``)."""
    document = notices.notices_document(session, principal, owner, label)
    audience = "public" if principal.is_anonymous else "private"
    headers = {"Cache-Control": f"{audience}, max-age={MAX_AGE}", "Vary": "Authorization"}
    return JSONResponse(document, headers=headers)


@router.api_route(f"{_LABEL}/{{subdir}}/shards/{{filename}}", methods=_GET_HEAD)
@router.api_route("/{owner}/{subdir}/shards/{filename}", methods=_GET_HEAD)
def shard(
    owner: str,
    subdir: str,
    filename: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
) -> Response:
    artifact = repodata.subdir_shard(session, cache, principal, owner, label, subdir, filename)
    return document_response(request, artifact, principal)


@router.api_route(f"{_LABEL}/{{subdir}}/{{filename}}", methods=_GET_HEAD)
@router.api_route("/{owner}/{subdir}/{filename}", methods=_GET_HEAD)
def subdir_file(
    owner: str,
    subdir: str,
    filename: str,
    label: LabelDep,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    cache: CacheDep,
    context: ContextDep,
) -> Response:
    """``repodata.json`` and its companions, or a package file. A proxy channel's
    documents are upstream's, and its files are fetched on first request
    (:mod:`ophis.server.services.channels.proxy`)."""
    if filename.endswith(ATTESTATION_SUFFIX):
        body = attestations.attestation_for(session, principal, owner, label, subdir, filename)
        return Response(body, media_type="application/json")
    if repodata.is_document(filename):
        if (proxied := proxy.proxy_of(session, owner, label)) is not None:
            artifact = proxy.subdir_document(
                session, cache, context.settings, principal, proxied, subdir, filename
            )
        else:
            artifact = repodata.subdir_document(
                session, cache, principal, owner, label, subdir, filename
            )
        return document_response(request, artifact, principal)
    try:
        download = proxy.open_package_file(
            session,
            context.storage,
            context.settings,
            principal,
            owner,
            label,
            subdir,
            filename,
            count=request.method == "GET",
        )
    except NotFound as missing:
        basename = f"{subdir}/{filename}"
        return moved_file_redirect(
            missing,
            request,
            session,
            principal,
            basename,
            DistributionType.CONDA,
            repodata.SCOPE,
            subdir,
        )
    return file_response(request, context.storage, download, principal)


@router.api_route(f"{_LABEL}/{{filename}}", methods=_GET_HEAD)
@router.api_route("/{owner}/{filename}", methods=_GET_HEAD)
def trust_metadata(owner: str, filename: str, session: SessionDep) -> Response:
    """``N.root.json`` and ``key_mgr.json``, where conda's ``signing_metadata_url_base``
    (the channel's URL) points; the same for every label of the channel."""
    if not signing.is_trust_file(filename):
        raise NotFound(f"There is no {filename} here.", "Check the URL.")
    body = signing.trust_document(session, owner, filename)
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-cache"})
