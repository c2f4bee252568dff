"""How channel documents and package files are answered -- validators, conditional requests
(304), Cache-Control -- for the conda channels and the pip indexes alike."""

from __future__ import annotations

from email.utils import formatdate, parsedate_to_datetime
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from ophis.server.services.authz import Principal
from ophis.server.services.files import MAIN
from ophis.server.services.repodata import Artifact, ChannelCache, Download, channel_cache
from ophis.server.storage.interfaces import Storage

#: seconds a client may reuse an index before asking again (conda honours it)
MAX_AGE = 30
_FOREVER = "max-age=31536000, immutable"
_BINARY = "application/octet-stream"


# Both dependencies are async because they never block: FastAPI would run a sync one in the
# thread pool, one more hop per request.
async def get_channel_cache(request: Request) -> ChannelCache:
    return channel_cache(request.app.state.context.settings.cache_dir / "channels")


async def label_of(request: Request) -> str:
    """The ``label`` segment of the path; the plain channel is the ``main`` label."""
    return request.path_params.get("label", MAIN)


CacheDep = Annotated[ChannelCache, Depends(get_channel_cache)]
LabelDep = Annotated[str, Depends(label_of)]


def document_response(
    request: Request, artifact: Artifact, principal: Principal, vary: str = "Authorization"
) -> Response:
    headers = {
        "ETag": artifact.etag,
        "Last-Modified": formatdate(artifact.last_modified, usegmt=True),
        "Cache-Control": _cache_control(principal, _FOREVER if artifact.immutable else None),
        "Vary": vary,
    }
    if not_modified(request, artifact.etag, artifact.last_modified):
        return Response(status_code=304, headers=headers)
    return Response(artifact.body, media_type=artifact.media_type, headers=headers)


def file_response(
    request: Request, storage: Storage, download: Download, principal: Principal
) -> Response:
    etag = f'"{download.sha256}"'
    headers = {"ETag": etag, "Cache-Control": _cache_control(principal), "Vary": "Authorization"}
    if not_modified(request, etag, None):
        return Response(status_code=304, headers=headers)
    path = storage.local_path(download.storage_key)
    if path is not None:
        return FileResponse(path, media_type=_BINARY, headers=headers)
    headers["Content-Length"] = str(download.size)
    return StreamingResponse(
        storage.iter_bytes(download.storage_key), media_type=_BINARY, headers=headers
    )


def not_modified(request: Request, etag: str, last_modified: float | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present, If-Modified-Since otherwise."""
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        return int(last_modified) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):  # an unparseable date is ignored, as RFC 9110 says
        return False


def _cache_control(principal: Principal, lifetime: str | None = None) -> str:
    # What a token fetched differs from what the same URL gives anyone: no shared caching.
    audience = "public" if principal.is_anonymous else "private"
    return f"{audience}, {lifetime or f'max-age={MAX_AGE}'}"
