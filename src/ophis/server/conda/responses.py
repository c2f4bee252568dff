"""How channel documents and package files are answered -- validators, conditional requests
(304), Cache-Control, content codings (:mod:`ophis.server.services.channels.encodings`) -- for the
conda channels and the pip indexes alike; the hot path (:mod:`ophis.server.conda.hot_path`)
answers anonymous requests with the same headers.

A stored file is sent the cheapest way its backend allows: a local file by the web server
in front when ``settings.accel_redirect`` says so (``X-Accel-Redirect``, ``X-Sendfile``),
else directly (with Range support), else a redirect to a short-lived URL of the storage
service itself (S3's presigned GET, which honours Range too) when
``settings.download_redirect``, else streamed through the server. Authorization, 304s and
download counts are settled before that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

from ophis.core.errors import OphisError
from ophis.server.errors import ServerError
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog.files import MAIN
from ophis.server.services.channels.encodings import (
    Representation,
    compressible,
    representation,
    same_bytes,
)
from ophis.server.services.channels.repodata import Artifact, ChannelCache, Download, channel_cache
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

#: seconds a client may reuse an index before asking again (conda honours it)
MAX_AGE = 30
_FOREVER = "max-age=31536000, immutable"
BINARY = "application/octet-stream"
#: seconds a presigned download URL stays valid: long enough to start a download (S3 checks
#: it when a request starts, not while the body flows), short because it is a credential
DOWNLOAD_URL_SECONDS = 600
ACCEL_NGINX, ACCEL_SENDFILE = "nginx", "sendfile"
#: documents larger than this are sent in slices of this size
CHUNK = 256 * 1024


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
    cache = channel_cache(request.app.state.context.settings.cache_dir / "channels")
    chosen = representation(cache, artifact, request.headers.get("accept-encoding", ""))
    headers = document_headers(artifact, chosen, principal.is_anonymous, vary)
    if not_modified(request.headers, artifact.etag, artifact.last_modified):
        return Response(status_code=304, headers=headers)
    if len(chosen.body) <= CHUNK:
        return Response(chosen.body, media_type=artifact.media_type, headers=headers)
    # A large document goes out in slices of the one cached copy: written whole, the server
    # would buffer a copy per slow client (22 MiB each for a 100,000-package subdir); in
    # slices, each connection waits for its socket to drain and holds one slice at most.
    headers["Content-Length"] = str(len(chosen.body))
    return StreamingResponse(_slices(chosen.body), media_type=artifact.media_type, headers=headers)


def document_headers(
    artifact: Artifact, chosen: Representation, anonymous: bool, vary: str
) -> dict[str, str]:
    """The headers of a document's answer (200 or 304), in the coding ``chosen``."""
    lifetime = _FOREVER if artifact.immutable else None
    headers = {
        "ETag": chosen.etag,
        "Last-Modified": formatdate(artifact.last_modified, usegmt=True),
        "Cache-Control": cache_control(anonymous, lifetime),
        "Vary": f"{vary}, Accept-Encoding" if compressible(artifact) else vary,
    }
    if chosen.coding is not None:
        headers["Content-Encoding"] = chosen.coding
    return headers


async def _slices(body: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


def file_response(
    request: Request, storage: Storage, download: Download, principal: Principal
) -> Response:
    etag = f'"{download.sha256}"'
    anonymous = principal.is_anonymous
    headers = {"ETag": etag, "Cache-Control": cache_control(anonymous), "Vary": "Authorization"}
    if not_modified(request.headers, etag, None):
        return Response(status_code=304, headers=headers)
    path = storage.local_path(download.storage_key)
    if path is not None:
        settings = request.app.state.context.settings
        handed = handed_to_proxy(settings, download.storage_key, path)
        if handed:  # the web server in front sends the bytes (and answers Range)
            return Response(media_type=BINARY, headers={**headers, **handed})
        return FileResponse(path, media_type=BINARY, headers=headers)
    # the name the client asked for (conda's and pip's routes both call it ``filename``)
    filename = request.path_params.get("filename") or download.storage_key.rsplit("/", 1)[-1]
    return remote_file_response(
        request, storage, download.storage_key, filename, download.size, headers
    )


def handed_to_proxy(settings: ServerSettings, key: str, path: Path) -> dict[str, str]:
    """The header that hands a stored file to the web server in front
    (``settings.accel_redirect``); none when the server sends it itself."""
    if settings.accel_redirect == ACCEL_NGINX:
        return {"X-Accel-Redirect": f"{settings.accel_redirect_prefix.rstrip('/')}/{quote(key)}"}
    if settings.accel_redirect == ACCEL_SENDFILE:
        return {"X-Sendfile": str(path)}
    return {}


def check_accel_redirect(settings: ServerSettings) -> None:
    """A mistyped ``accel_redirect`` stops the start, named (it would serve empty files)."""
    if settings.accel_redirect not in ("", ACCEL_NGINX, ACCEL_SENDFILE):
        raise OphisError(
            f"accel_redirect = {settings.accel_redirect!r} is not a known web server.",
            f"Use {ACCEL_NGINX!r} (X-Accel-Redirect), {ACCEL_SENDFILE!r} (X-Sendfile), or ''.",
        )


def remote_file_response(
    request: Request,
    storage: Storage,
    key: str,
    filename: str,
    size: int,
    headers: dict[str, str],
) -> Response:
    """A file of a backend without local paths: headers alone for HEAD (a presigned URL is
    signed for GET only), a redirect to the backend when allowed, else the bytes streamed."""
    if request.method == "HEAD":
        return Response(media_type=BINARY, headers={**headers, "Content-Length": str(size)})
    if request.app.state.context.settings.download_redirect:
        url = storage.download_url(key, filename, expires=DOWNLOAD_URL_SECONDS)
        if url is not None:
            return _redirect(url, headers)
    try:
        chunks = storage.iter_bytes(key)
    except FileNotFoundError:
        raise ServerError(
            f"The stored bytes of {filename} are missing.",
            "Tell the server's administrator; uploading the file again restores them.",
        ) from None
    return StreamingResponse(
        chunks, media_type=BINARY, headers={**headers, "Content-Length": str(size)}
    )


def _redirect(url: str, headers: dict[str, str]) -> Response:
    # Never cached, not even privately: the URL is a credential that expires, and a shared
    # cache would hand a private package's URL to anyone. No ETag: it validates the file,
    # not this redirect.
    kept = {k: v for k, v in headers.items() if k not in ("ETag", "Cache-Control")}
    return RedirectResponse(url, status_code=302, headers={**kept, "Cache-Control": "no-store"})


def not_modified(headers: Mapping[str, str], etag: str, last_modified: float | None) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present (any coding of the same bytes
    matches), If-Modified-Since otherwise."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None:
        tags = {same_bytes(tag.strip().removeprefix("W/")) for tag in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = headers.get("if-modified-since")
    if since is None or last_modified is None:
        return False
    try:
        return int(last_modified) <= parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError):  # an unparseable date is ignored, as RFC 9110 says
        return False


def cache_control(anonymous: bool, lifetime: str | None = None) -> str:
    # What a token fetched differs from what the same URL gives anyone: no shared caching.
    audience = "public" if anonymous else "private"
    return f"{audience}, {lifetime or f'max-age={MAX_AGE}'}"
