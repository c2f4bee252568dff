"""A stored file's bill of materials: ``GET /api/sbom/{owner}/{package}/{version}/{basename}``
(``?format=cyclonedx``, the default, or ``spdx``), shaped like ``/download/...``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.services.trust import sboms
from ophis.server.storage.interfaces import content_disposition

router = APIRouter()


@router.get("/sbom/{owner}/{package}/{version}/{basename:path}")
def file_sbom(
    owner: str,
    package: str,
    version: str,
    basename: str,
    session: SessionDep,
    principal: PrincipalDep,
    output_format: Annotated[str, Query(alias="format")] = "cyclonedx",
) -> Response:
    found = sboms.file_sbom(session, principal, owner, package, version, basename, output_format)
    headers = {"Content-Disposition": content_disposition(found.filename)}
    return Response(found.text, media_type=found.media_type, headers=headers)
