"""An organization's groups, their members and packages (reference §2 "Groups"); the
client expects 204 from every change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.schemas import GroupCreate, group_public, package_public, user_public
from ophis.server.services.catalog import groups

router = APIRouter()
_NO_CONTENT = 204


@router.get("/groups/{org}")
def list_groups(org: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    found = groups.list_groups(session, principal, org)
    return {"groups": [group_public(group, org) for group in found]}


@router.get("/group/{org}/{name}")
def get_group(org: str, name: str, session: SessionDep, principal: PrincipalDep) -> dict[str, Any]:
    return group_public(groups.get_group(session, principal, org, name), org)


@router.post("/group/{org}/{name}", status_code=_NO_CONTENT)
def save_group(
    org: str,
    name: str,
    session: SessionDep,
    principal: PrincipalDep,
    body: GroupCreate | None = None,
) -> Response:
    groups.save_group(session, principal, org, name, (body or GroupCreate()).perms)
    return Response(status_code=_NO_CONTENT)


@router.get("/group/{org}/{name}/members")
def members(
    org: str, name: str, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    return [user_public(user) for user in groups.members(session, principal, org, name)]


@router.get("/group/{org}/{name}/members/{login}", status_code=_NO_CONTENT)
def is_member(
    org: str, name: str, login: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    """204 for a member, 404 otherwise (the library's membership test)."""
    groups.check_member(session, principal, org, name, login)
    return Response(status_code=_NO_CONTENT)


@router.put("/group/{org}/{name}/members/{login}", status_code=_NO_CONTENT)
def add_member(
    org: str, name: str, login: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    groups.add_member(session, principal, org, name, login)
    return Response(status_code=_NO_CONTENT)


@router.delete("/group/{org}/{name}/members/{login}", status_code=_NO_CONTENT)
def remove_member(
    org: str, name: str, login: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    groups.remove_member(session, principal, org, name, login)
    return Response(status_code=_NO_CONTENT)


@router.get("/group/{org}/{name}/packages")
def packages(
    org: str, name: str, session: SessionDep, principal: PrincipalDep
) -> list[dict[str, Any]]:
    found = groups.group_packages(session, principal, org, name)
    return [package_public(package, with_files=False) for package in found]


@router.put("/group/{org}/{name}/packages/{package}", status_code=_NO_CONTENT)
def add_package(
    org: str, name: str, package: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    groups.add_package(session, principal, org, name, package)
    return Response(status_code=_NO_CONTENT)


@router.delete("/group/{org}/{name}/packages/{package}", status_code=_NO_CONTENT)
def remove_package(
    org: str, name: str, package: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    groups.remove_package(session, principal, org, name, package)
    return Response(status_code=_NO_CONTENT)
