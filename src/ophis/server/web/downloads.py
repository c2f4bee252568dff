"""``/<owner>/<package>/<version>/download/<basename>``: a file by its release, the URL
Anaconda.org gives every file (``<subdir>/<file>`` for conda packages, the file name for
wheels, sdists and generic files), whatever label holds it.

Served by the same responses as the channels' files (validators, 304, Range, storage
redirects) and counted as their downloads are; ``X-Checksum-Sha256`` names the whole file's
digest, for a client that resumes with Range to check what it put together. The caller is
the token of the request (in the path, ``/t/<token>/...``, or the ``Authorization``
header), never a browser's session: the bytes are the uploader's, so they are sent as an
attachment that nothing renders here.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from ophis.server.conda.responses import file_response
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.services.channels import repo
from ophis.server.storage.interfaces import content_disposition
from ophis.server.web.pages import only_pages

router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])
#: should a browser display it anyway, it is a document that may do nothing
_SANDBOX = "default-src 'none'; sandbox"


@router.api_route("/{owner}/{package}/{version}/download/{basename:path}", methods=["GET", "HEAD"])
def download(
    owner: str,
    package: str,
    version: str,
    basename: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> Response:
    found, filename = repo.open_download(
        session, principal, owner, package, version, basename, count=request.method == "GET"
    )
    response = file_response(request, context.storage, found, principal)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Checksum-Sha256"] = found.sha256  # a resumed download checks it
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = _SANDBOX
    return response
