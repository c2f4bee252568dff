"""The pages anyone may browse: home, search, an owner, a label, a package (and the
package's visibility switch, for those who may write it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response

from ophis.core.platform import KNOWN_SUBDIRS
from ophis.server.db.models import Account, ChannelNotice
from ophis.server.deps import ContextDep, SessionDep
from ophis.server.services.accounts import authz
from ophis.server.services.catalog import icons, packages, stats
from ophis.server.services.channels import browse, mirror_channels, notices, search
from ophis.server.services.trust import cves
from ophis.server.web import links
from ophis.server.web.caller import CallerDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import base_of, is_page, redirect, render, root_of


async def only_pages(request: Request) -> None:
    """``/<owner>/...`` must not answer for ``/api/...`` and the like: a path no API route
    took is the API's own 404, in JSON."""
    if not is_page(request):
        raise HTTPException(404)


router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])
PageNumber = Annotated[int, Query(ge=1, le=browse.MAX_PAGE)]


@router.get("/")
def home(request: Request, caller: CallerDep, session: SessionDep) -> Response:
    return render(request, caller, "home.html", recent=browse.recent_packages(session))


@router.get("/search")
def search_page(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    q: str = "",
    kind: Annotated[str, Query(alias="type")] = "",
    platform: str = "",
    page: PageNumber = 1,
) -> Response:
    result = search.search_packages(
        session, caller.principal, q, package_type=kind, platform=platform, number=page
    )
    return render(
        request,
        caller,
        "search.html",
        q=q,
        kind=kind,
        platform=platform,
        result=result,
        types=search.TYPES,
        platforms=KNOWN_SUBDIRS,
    )


@router.get("/{owner}")
def owner_page(
    owner: str,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    page: PageNumber = 1,
    labels_page: PageNumber = 1,
) -> Response:
    overview = browse.owner_overview(session, caller.principal, owner, page, labels_page)
    return render(
        request,
        caller,
        "owner.html",
        overview=overview,
        channel=links.channel_url(root_of(request), overview.owner.login),
        manage_org=authz.can_manage_org(session, caller.principal, overview.owner),
        notices=_notices(session, caller, overview.owner),
        mirrors=_mirrors(session, caller, overview.owner),
    )


@router.get("/{owner}/labels/{label}")
def label_page(
    owner: str,
    label: str,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    page: PageNumber = 1,
) -> Response:
    account, found, files = browse.label_files(session, caller.principal, owner, label, page)
    return render(
        request,
        caller,
        "label.html",
        owner=account,
        label=found,
        files=files,
        groups=links.by_platform(base_of(request), files.items, found.name),
        channel=links.channel_url(root_of(request), account.login, found.name),
        notices=_notices(session, caller, account, found.name),
        mirror=_mirrors(session, caller, account).get(found.name),
    )


@router.get("/{owner}/{package}")
def package_page(
    owner: str,
    package: str,
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    version: str = "",
    page: PageNumber = 1,
    versions_page: PageNumber = 1,
) -> Response:
    detail = browse.package_detail(
        session,
        caller.principal,
        owner,
        package,
        version=version or None,
        files_page=page,
        versions_page=versions_page,
    )
    label = browse.install_label(detail.labels)
    downloads = stats.downloads_of(session, detail.package)
    return render(
        request,
        caller,
        "package.html",
        detail=detail,
        package=detail.package,
        commands=links.install_commands(root_of(request), detail.package, label),
        groups=links.by_platform(base_of(request), detail.files.items),
        token=links.TOKEN,
        downloads=downloads,
        bars=stats.chart(downloads),
        notices=_notices(session, caller, detail.package.owner),
        vulnerabilities=cves.page_findings(
            session, caller.principal, detail.package, detail.files.items
        ),
    )


@router.get("/{owner}/{package}/icon.png")
def package_icon(
    owner: str, package: str, caller: CallerDep, session: SessionDep, context: ContextDep
) -> Response:
    icon = icons.package_icon(session, context.storage, caller.principal, owner, package)
    # the URL stays while the icon may change: a short private lifetime, then revalidate
    etag = f'"{icon.key.rsplit("/", 1)[-1].removesuffix(".png")}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=300"}
    return Response(icon.body, media_type="image/png", headers=headers)


def _notices(
    session: SessionDep, caller: WebCaller, owner: Account, label: str | None = None
) -> list[ChannelNotice]:
    """The banner of an owner's pages: the channel's current notices the caller may see."""
    return notices.active_notices(session, caller.principal, owner, label, notices.WEB_SCOPE)


def _mirrors(session: SessionDep, caller: WebCaller, owner: Account) -> dict[str, dict]:
    """The owner's mirror and proxy channels by label, for their badges (without tokens);
    none for a private channel the caller may not read."""
    if not authz.can_read_channel(session, caller.principal, owner, notices.WEB_SCOPE):
        return {}
    found = mirror_channels.owner_mirrors(session, owner)
    return {label: mirror_channels.describe(row) for label, row in found.items()}


@router.post("/{owner}/{package}/visibility")
def set_visibility(
    owner: str,
    package: str,
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    public: Annotated[str, Form()],
) -> Response:
    changed = packages.set_public(session, caller.principal, owner, package, public == "true")
    return redirect(request, f"/{changed.owner.login}/{changed.name}")
