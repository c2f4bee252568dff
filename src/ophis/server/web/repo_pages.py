"""Anaconda.org's pages of an owner's repository: ``/<owner>/repo``, the owner's packages
(``?type=``, ``?label=``, ``?access=``, ``?q=`` to filter), and ``/<owner>/<package>/files``,
a package's files (``?version=``, ``?channel=`` -- Anaconda.org's word for a label, or
``?label=`` -- ``?type=``, ``?platform=``).

``repo`` is a reserved word of an owner's URLs, as on Anaconda.org: ``/<owner>/repo`` is
always the listing. A package named ``repo`` keeps every other URL (its files page, badges,
downloads, channels), and the pages link to its files page instead
(:func:`ophis.server.web.links.package_path`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ophis.core.distribution_types import DistributionType
from ophis.server.deps import SessionDep
from ophis.server.services.accounts import authz
from ophis.server.services.channels import repo
from ophis.server.web import badges, links
from ophis.server.web.caller import CallerDep
from ophis.server.web.pages import PageNumber, only_pages
from ophis.server.web.rendering import base_of, render, root_of

#: the package types the pages filter by
TYPES = (
    DistributionType.CONDA,
    DistributionType.PYPI,
    DistributionType.GENERIC,
    DistributionType.PROJECT,
)
#: a filter's value: names and versions are at most 200 characters long
Text = Annotated[str, Query(max_length=200)]
Kind = Annotated[str, Query(alias="type", max_length=40)]

#: registered before the package pages, whose ``/<owner>/<package>`` would take it
listing_router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])
#: registered after them: ``/<owner>/labels/<label>`` stays the label's page
router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])


@listing_router.get("/{owner}/repo")
def repo_page(
    owner: str,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    q: Text = "",
    kind: Kind = "",
    label: Text = "",
    access: Text = "",
    page: PageNumber = 1,
) -> Response:
    filters = repo.RepoFilters(text=q, kind=kind, label=label, access=access)
    found = repo.owner_repo(session, caller.principal, owner, filters, page)
    return render(
        request,
        caller,
        "repo.html",
        repo=found,
        filters=filters,
        types=TYPES,
        accesses=repo.ACCESS,
        package_path=links.package_path,
        channel=links.channel_url(root_of(request), found.owner.login),
    )


@router.get("/{owner}/{package}/files")
def files_page(
    owner: str,
    package: str,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    version: Text = "",
    channel: Text = "",
    label: Text = "",
    kind: Kind = "",
    platform: Text = "",
    page: PageNumber = 1,
) -> Response:
    filters = repo.FileFilters(
        version=version, label=label or channel, kind=kind, platform=platform
    )
    found = repo.package_files(session, caller.principal, owner, package, filters, page)
    base = base_of(request)
    # a private package's files answer only with a token, which a browser does not send
    public = authz.is_public(found.package)
    rows = [
        links.FileView(row, links.download_url(base, row) if public else None)
        for row in found.files.items
    ]
    return render(
        request,
        caller,
        "package_files.html",
        found=found,
        package=found.package,
        filters=filters,
        rows=rows,
        package_path=links.package_path,
        badges=badges.badge_names(found.package.package_types or []),
    )
