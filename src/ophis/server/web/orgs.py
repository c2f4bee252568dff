"""``/settings/orgs``: the organizations of the signed-in user, a new one, and one
organization's members and groups, which its admins change here (Anaconda.org's
organization settings).

Under ``/settings`` rather than ``/<org>/...``, which the package page's route takes. Every
change is a form posted to its own URL; it answers with a redirect back to the organization's
page, or that page again with what was wrong. A 404 is left to the site's one 404 page:
someone outside the organization learns nothing of its groups."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.deps import SessionDep
from ophis.server.services.catalog import groups
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import error_status, redirect, render

router = APIRouter(prefix="/settings/orgs", include_in_schema=False)


@router.get("")
def org_list(request: Request, caller: SignedInDep, session: SessionDep) -> Response:
    return _list_page(request, caller, session)


@router.post("")
def create_org(
    request: Request, caller: SignedInFormDep, session: SessionDep, login: Field, name: Field = ""
) -> Response:
    try:
        org = groups.create_org(session, caller.principal, login, name)
    except OphisError as error:
        status = error_status(error)
        return _list_page(request, caller, session, status=status, error=error, login=login)
    return redirect(request, f"/settings/orgs/{org.login}")


@router.get("/{org}")
def org_page(request: Request, org: str, caller: SignedInDep, session: SessionDep) -> Response:
    return _org_page(request, caller, session, org)


@router.post("/{org}/groups")
def create_group(
    request: Request,
    org: str,
    caller: SignedInFormDep,
    session: SessionDep,
    name: Field,
    permission: Field,
) -> Response:
    change = partial(groups.create_group, session, caller.principal, org, name, permission)
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/permission")
def set_permission(
    request: Request,
    org: str,
    group: str,
    caller: SignedInFormDep,
    session: SessionDep,
    permission: Field,
) -> Response:
    change = partial(groups.set_permission, session, caller.principal, org, group, permission)
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/delete")
def delete_group(
    request: Request, org: str, group: str, caller: SignedInFormDep, session: SessionDep
) -> Response:
    change = partial(groups.delete_group, session, caller.principal, org, group)
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/members")
def add_member(
    request: Request,
    org: str,
    group: str,
    caller: SignedInFormDep,
    session: SessionDep,
    login: Field,
) -> Response:
    change = partial(groups.add_member, session, caller.principal, org, group, login.strip())
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/members/{login}/remove")
def remove_member(
    request: Request,
    org: str,
    group: str,
    login: str,
    caller: SignedInFormDep,
    session: SessionDep,
) -> Response:
    change = partial(groups.remove_member, session, caller.principal, org, group, login)
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/packages")
def add_package(
    request: Request,
    org: str,
    group: str,
    caller: SignedInFormDep,
    session: SessionDep,
    package: Field,
) -> Response:
    change = partial(groups.add_package, session, caller.principal, org, group, package.strip())
    return _change(request, caller, session, org, change)


@router.post("/{org}/groups/{group}/packages/{package}/remove")
def remove_package(
    request: Request,
    org: str,
    group: str,
    package: str,
    caller: SignedInFormDep,
    session: SessionDep,
) -> Response:
    change = partial(groups.remove_package, session, caller.principal, org, group, package)
    return _change(request, caller, session, org, change)


@router.post("/{org}/members/{login}/remove")
def remove_from_org(
    request: Request, org: str, login: str, caller: SignedInFormDep, session: SessionDep
) -> Response:
    change = partial(groups.remove_from_org, session, caller.principal, org, login)
    return _change(request, caller, session, org, change)


def _change(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    org: str,
    change: Callable[[], object],
) -> Response:
    """Make one change; on a refusal show the page again with why (and a 404 as the site's
    404 page, since the page itself is then not the caller's to see)."""
    try:
        change()
    except OphisError as error:
        session.rollback()
        return _org_page(request, caller, session, org, error_status(error), error)
    return redirect(request, f"/settings/orgs/{org}")


def _org_page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    org: str,
    status: int = 200,
    error: OphisError | None = None,
) -> Response:
    view = groups.org_overview(session, caller.principal, org)
    return render(
        request,
        caller,
        "org.html",
        status=status,
        view=view,
        error=error,
        permissions=groups.PERMISSIONS,
        owners_group=groups.OWNERS_GROUP,
    )


def _list_page(
    request: Request, caller: WebCaller, session: SessionDep, status: int = 200, **context: object
) -> Response:
    return render(
        request,
        caller,
        "orgs.html",
        status=status,
        memberships=groups.my_orgs(session, caller.principal),
        **context,
    )
