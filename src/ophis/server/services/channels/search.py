"""The web site's package search: by name and summary, filtered by package type and
platform, one page at a time, showing only what the caller may read.

The query walks ``ix_packages_name`` in name order and stops once a page is full, so a
page costs about the same on 10 or 100,000 packages whatever the number of matches; there
is no count of all matches. An exact name match is looked up by the same index and shown
first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import ColumnElement, String, cast, func, or_, select
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.server.db.models import File, Package, Release
from ophis.server.errors import BadRequest
from ophis.server.schemas import PACKAGE_TYPES
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.channels import browse

PAGE_SIZE = 25
#: the package types a search filters by (the ones files are uploaded as)
TYPES = (DistributionType.CONDA, DistributionType.PYPI)


@dataclass(frozen=True)
class SearchResult:
    #: packages named exactly as asked (first page only)
    exact: list[browse.PackageRow]
    page: browse.Page


def search_packages(
    session: Session,
    principal: Principal,
    text: str,
    *,
    package_type: str = "",
    platform: str = "",
    number: int = 1,
) -> SearchResult:
    _check_filters(package_type, platform)
    text = text.strip()
    query = browse.listed(select(Package), principal)
    if text:
        pattern = "%" + _escape_like(text.lower()) + "%"
        query = query.where(
            or_(
                func.lower(Package.name).like(pattern, escape="\\"),
                func.lower(Package.summary).like(pattern, escape="\\"),
            )
        )
    if package_type:
        # package_types is a short JSON list; its text holds the quoted name
        query = query.where(cast(Package.package_types, String).like(f'%"{package_type}"%'))
    if platform:
        query = query.where(_has_files_for(platform))
    names = {text, text.lower()} if text else set()
    exact_query = query.where(Package.name.in_(names)).order_by(Package.id).limit(PAGE_SIZE)
    exact = list(session.scalars(exact_query)) if number == 1 and names else []
    rest = query.where(Package.name.not_in(names)) if names else query
    page = browse.paged(session, rest.order_by(Package.name, Package.id), number, PAGE_SIZE)
    return SearchResult(
        exact=browse.package_rows(session, exact),
        page=replace(page, items=browse.package_rows(session, page.items)),
    )


def _check_filters(package_type: str, platform: str) -> None:
    if package_type and package_type not in PACKAGE_TYPES:
        raise BadRequest(
            f"{package_type!r} is not a package type.",
            f"Choose among: {', '.join(sorted(PACKAGE_TYPES))}.",
        )
    if platform and platform not in KNOWN_SUBDIRS:
        raise BadRequest(
            f"{platform!r} is not a conda platform.", f"Choose among: {', '.join(KNOWN_SUBDIRS)}."
        )


def _has_files_for(platform: str) -> ColumnElement[bool]:
    """noarch files install on every platform, so they match any platform filter."""
    return (
        select(File.id)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == Package.id, File.subdir.in_([platform, "noarch"]))
        .exists()
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
