"""Packages, releases and files (reference §2 "Packages, releases, files"), with the exact
status codes anaconda-client checks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse

from ophis.server.conda.responses import remote_file_response
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.schemas import (
    AttrsUpdate,
    PackageCreate,
    ReleaseCreate,
    file_public,
    package_public,
    release_public,
    user_public,
)
from ophis.server.services.catalog import packages, stats
from ophis.server.storage.interfaces import content_disposition

router = APIRouter()
#: the package type filter, sent as ``type``
TypeQuery = Annotated[str | None, Query(alias="type")]


@router.get("/packages")
def my_packages(session: SessionDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    return [package_public(p, with_files=False) for p in packages.my_packages(session, principal)]


@router.get("/packages/{owner}")
def owner_packages(
    owner: str,
    session: SessionDep,
    principal: PrincipalDep,
    platform: str | None = None,
    package_type: str | None = None,
    kind: TypeQuery = None,
    access: str | None = None,
) -> list[dict[str, Any]]:
    found = packages.list_packages(
        session,
        principal,
        owner,
        platform=platform,
        package_type=package_type or kind,
        access=access,
    )
    return [package_public(package, with_files=False) for package in found]


@router.get("/search")
def search(
    session: SessionDep,
    principal: PrincipalDep,
    name: str = "",
    kind: TypeQuery = None,
    platform: str | None = None,
) -> list[dict[str, Any]]:
    found = packages.search(session, principal, name, package_type=kind, platform=platform)
    return [package_public(package, with_files=False) for package in found]


@router.get("/package/{owner}/{name}")
def get_package(
    owner: str, name: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return package_public(packages.get_package(session, principal, owner, name))


@router.post("/package/{owner}/{name}")
def create_package(
    owner: str, name: str, body: PackageCreate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    package = packages.create_package(
        session, principal, owner, name, body.public, body.public_attrs
    )
    return package_public(package)


@router.patch("/package/{owner}/{name}")
def update_package(
    owner: str, name: str, body: AttrsUpdate, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    package = packages.update_package(session, principal, owner, name, body.public_attrs)
    return package_public(package)


@router.delete("/package/{owner}/{name}", status_code=201)
def remove_package(
    owner: str, name: str, session: SessionDep, principal: PrincipalDep, context: ContextDep
) -> Response:
    packages.remove_package(session, context.storage, principal, owner, name)
    return Response(status_code=201)


@router.get("/packages/{owner}/{name}/collaborators")
def collaborators(
    owner: str, name: str, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return [user_public(u) for u in packages.collaborators(session, principal, owner, name)]


@router.put("/packages/{owner}/{name}/collaborators/{login}", status_code=201)
def add_collaborator(
    owner: str, name: str, login: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    packages.add_collaborator(session, principal, owner, name, login)
    return Response(status_code=201)


@router.delete("/packages/{owner}/{name}/collaborators/{login}", status_code=201)
def remove_collaborator(
    owner: str, name: str, login: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    packages.remove_collaborator(session, principal, owner, name, login)
    return Response(status_code=201)


@router.get("/release/{owner}/{name}/{version}")
def get_release(
    owner: str, name: str, version: str, session: SessionDep, principal: PrincipalDep
) -> dict[str, Any]:
    return release_public(packages.get_release(session, principal, owner, name, version))


@router.post("/release/{owner}/{name}/{version}")
def create_release(
    owner: str,
    name: str,
    version: str,
    body: ReleaseCreate,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    release = packages.create_release(session, principal, owner, name, version, body)
    return release_public(release)


@router.patch("/release/{owner}/{name}/{version}")
def update_release(
    owner: str,
    name: str,
    version: str,
    body: AttrsUpdate,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    release = packages.update_release(session, principal, owner, name, version, body.public_attrs)
    return release_public(release)


@router.delete("/release/{owner}/{name}/{version}", status_code=201)
def remove_release(
    owner: str,
    name: str,
    version: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> Response:
    packages.remove_release(session, context.storage, principal, owner, name, version)
    return Response(status_code=201)


@router.get("/dist/{owner}/{name}/{version}/{basename:path}")
def get_dist(
    owner: str,
    name: str,
    version: str,
    basename: str,
    session: SessionDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    return file_public(packages.get_dist(session, principal, owner, name, version, basename))


@router.delete("/dist/{owner}/{name}/{version}/{basename:path}")
def remove_dist(
    owner: str,
    name: str,
    version: str,
    basename: str,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> dict[str, Any]:
    removed = packages.remove_dist(
        session, context.storage, principal, owner, name, version, basename
    )
    return {"removed": True, "basename": removed.basename}


@router.get("/download/{owner}/{name}/{version}/{basename:path}")
def download(
    owner: str,
    name: str,
    version: str,
    basename: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> Response:
    """The file itself (200), or 304 when the client already has it: the library sends
    the md5 it has as ``ETag``."""
    row = packages.get_dist(session, principal, owner, name, version, basename)
    headers = {"ETag": row.md5}
    if row.md5 in (request.headers.get("etag"), request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    stats.count_download(session, row)
    filename = row.filename
    local = context.storage.local_path(row.storage_key)
    if local is not None:
        return FileResponse(local, filename=filename, headers=headers)
    headers["Content-Disposition"] = content_disposition(filename)
    return remote_file_response(
        request, context.storage, row.storage_key, filename, row.size, headers
    )
