"""An owner's repository as Anaconda.org's own URLs show it: the packages listing
(``/<owner>/repo``), a package's files (``/<owner>/<package>/files``), a file by its
release (``/<owner>/<package>/<version>/download/<basename>``) and what a package's badges
say. Every look-up hides what the caller may not read, worded as for what does not exist
(:mod:`ophis.server.services.accounts.authz`); a file a channel policy hides from every label is
hidden from those who may not write the package, as on its page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, selectinload

from ophis.core.distribution_types import DistributionType
from ophis.server.db.models import Account, File, FileLabel, Label, Package, Release
from ophis.server.errors import BadRequest
from ophis.server.schemas import PACKAGE_TYPES
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import packages, stats
from ophis.server.services.catalog.labels import visible_labels
from ophis.server.services.channels import browse
from ophis.server.services.channels.repodata import Download
from ophis.server.services.trust import channel_policy

#: the scope a token needs to download a file of each type; ``api:read`` reads them all
_DOWNLOAD_SCOPES = {
    DistributionType.CONDA: "conda:download",
    DistributionType.PYPI: "pypi:download",
}
ACCESS = ("public", "private")
#: the versions a files page offers to filter by
MAX_VERSIONS = 100
PAGE_SIZE = 25
#: a file's platform: its conda subdir, else its type (``pypi``), as the pages group them
_PLATFORM = func.coalesce(File.subdir, File.distribution_type)


@dataclass(frozen=True)
class RepoFilters:
    """``/<owner>/repo?q=&type=&label=&access=``."""

    text: str = ""
    kind: str = ""
    label: str = ""
    access: str = ""


@dataclass(frozen=True)
class RepoRow:
    package: Package
    latest: str | None
    downloads: int
    labels: list[str]


@dataclass(frozen=True)
class OwnerRepo:
    owner: Account
    #: a page of :class:`RepoRow`
    packages: browse.Page
    #: the owner's labels the caller may know of, to filter by
    labels: list[str]


@dataclass(frozen=True)
class FileFilters:
    """``/<owner>/<package>/files?version=&channel=&type=&platform=``."""

    version: str = ""
    label: str = ""
    kind: str = ""
    platform: str = ""


@dataclass(frozen=True)
class PackageFiles:
    package: Package
    #: a page of File rows, newest first
    files: browse.Page
    versions: list[str]
    labels: list[str]
    kinds: list[str]
    platforms: list[str]


@dataclass(frozen=True)
class BadgeFacts:
    package: Package
    version: str | None
    released_at: datetime | None
    downloads: int
    platforms: list[str]
    #: the package's, else the newest conda file's (its info/about.json)
    license: str
    #: the label install commands name (None: no label holds a file of the package)
    install_label: str | None


# --- /<owner>/repo ---------------------------------------------------------------------------


def owner_repo(
    session: Session, principal: Principal, login: str, filters: RepoFilters, number: int
) -> OwnerRepo:
    _check_kind(filters.kind)
    if filters.access and filters.access not in ACCESS:
        raise BadRequest(f"{filters.access!r} is not an access.", "Use public or private.")
    owner = accounts.get_account(session, login)
    query = browse.listed(select(Package).where(Package.owner_id == owner.id), principal)
    if filters.text.strip():
        query = query.where(
            func.lower(Package.name).contains(filters.text.strip().lower(), autoescape=True)
        )
    if filters.kind:
        query = query.where(
            _package_files(Package.id, File.distribution_type == filters.kind).exists()
        )
    if filters.label:
        in_label = File.id.in_(_label_file_ids(owner.id, filters.label))
        shown = shown_files(session, principal, owner, filters.label)
        query = query.where(_package_files(Package.id, in_label, shown).exists())
    if filters.access:
        public = authz.public_packages()
        query = query.where(public if filters.access == "public" else ~public)
    page = browse.paged(session, query.order_by(Package.name), number, PAGE_SIZE)
    known = visible_labels(session, principal, owner, browse.SCOPE)
    labels = session.scalars(known.with_only_columns(Label.name).order_by(Label.name))
    return OwnerRepo(owner, replace(page, items=_repo_rows(session, page.items)), list(labels))


def _package_files(package_id: Any, *conditions: ColumnElement[bool]) -> Select[Any]:
    """Files of one package (an id, or ``Package.id`` of an enclosing query) meeting
    ``conditions``."""
    return (
        select(File.id)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == package_id, *conditions)
    )


def _label_file_ids(owner_id: int, label: str) -> Select[Any]:
    return (
        select(FileLabel.file_id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(Label.owner_id == owner_id, Label.name == label)
    )


def shown_files(
    session: Session, principal: Principal, owner: Account, label: str | None = None
) -> ColumnElement[bool]:
    """Files not hidden by a channel policy from those who may not write the channel."""
    if authz.at_least(authz.role_on(session, principal, owner), authz.WRITE):
        return File.id.is_not(None)
    if label is None:
        return channel_policy.hidden_everywhere_clause(owner.id)
    return channel_policy.hidden_clause(owner.id, label)


def _repo_rows(session: Session, found: list[Package]) -> list[RepoRow]:
    """Each package with its newest version, downloads and labels: three queries a page."""
    ids = [package.id for package in found]
    downloads = dict(
        session.execute(
            select(Release.package_id, func.sum(File.download_count))
            .join(File, File.release_id == Release.id)
            .where(Release.package_id.in_(ids))
            .group_by(Release.package_id)
        )
        .tuples()
        .all()
    )
    labels: dict[int, list[str]] = {}
    for package_id, label in session.execute(
        select(Release.package_id, Label.name)
        .join(File, File.release_id == Release.id)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(Release.package_id.in_(ids))
        .distinct()
        .order_by(Label.name)
    ):
        labels.setdefault(package_id, []).append(label)
    rows = []
    for row in browse.package_rows(session, found):
        package_id = row.package.id
        count = int(downloads.get(package_id) or 0)
        rows.append(RepoRow(row.package, row.latest, count, labels.get(package_id, [])))
    return rows


# --- /<owner>/<package>/files ------------------------------------------------------------------


def package_files(
    session: Session,
    principal: Principal,
    login: str,
    name: str,
    filters: FileFilters,
    number: int,
) -> PackageFiles:
    """One page of a package's files the caller may see, newest first, narrowed by
    ``filters``; NotFound for a package the caller may not read."""
    _check_kind(filters.kind)
    package = packages.get_package(session, principal, login, name)
    shown = shown_files(session, principal, package.owner)
    rows = (
        select(File)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == package.id, shown)
        .options(selectinload(File.labels), selectinload(File.release))
        .order_by(File.id.desc())
    )
    if filters.version:
        rows = rows.where(Release.version == filters.version)
    if filters.kind:
        rows = rows.where(File.distribution_type == filters.kind)
    if filters.platform:
        rows = rows.where(filters.platform == _PLATFORM)
    if filters.label:
        rows = rows.where(File.id.in_(_label_file_ids(package.owner_id, filters.label)))
    facets = session.execute(
        _package_files(package.id, shown)
        .with_only_columns(File.distribution_type, _PLATFORM)
        .distinct()
    ).all()
    versions = session.scalars(
        select(Release.version)
        .where(Release.package_id == package.id)
        .order_by(Release.id.desc())
        .limit(MAX_VERSIONS)
    )
    return PackageFiles(
        package=package,
        files=browse.paged(session, rows, number, 50),
        versions=list(versions),
        labels=browse.package_labels(session, package),
        kinds=sorted({kind for kind, _ in facets}),
        platforms=sorted({platform for _, platform in facets}),
    )


def _check_kind(kind: str) -> None:
    if kind and kind not in PACKAGE_TYPES:
        raise BadRequest(
            f"{kind!r} is not a package type.", f"Choose among: {', '.join(sorted(PACKAGE_TYPES))}."
        )


# --- /<owner>/<package>/<version>/download/<basename> ------------------------------------------


def open_download(
    session: Session,
    principal: Principal,
    login: str,
    name: str,
    version: str,
    basename: str,
    *,
    count: bool,
) -> tuple[Download, str]:
    """A file of a release, by its basename (``<subdir>/<file>`` for conda, the file name
    otherwise), in whatever labels it is; its download counted when ``count``. The same
    NotFound whether it is missing, private or hidden by a policy. Returns the download and
    the file's name."""
    owner = accounts.get_account(session, login)
    row = session.scalar(
        select(File)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .where(Package.owner_id == owner.id, func.lower(Package.name) == name.lower())
        .where(Release.version == version, File.basename == basename)
        .where(shown_files(session, principal, owner))
    )
    if row is None or not _may_download(session, principal, row):
        raise authz.not_found(f"{owner.login}/{name}/{version}/{basename}")
    found = Download(row.storage_key, row.size, row.sha256), row.filename
    if count:
        stats.count_download(session, row)
    return found


def _may_download(session: Session, principal: Principal, row: File) -> bool:
    """A token for downloads of the file's kind (conda's, pip's) or for the API will do."""
    scopes = {_DOWNLOAD_SCOPES.get(row.distribution_type, browse.SCOPE), browse.SCOPE}
    package = row.release.package
    return any(authz.can_read_package(session, principal, package, scope) for scope in scopes)


# --- badges ----------------------------------------------------------------------------------


def badge_facts(session: Session, principal: Principal, login: str, name: str) -> BadgeFacts:
    package = packages.get_package(session, principal, login, name)
    newest = session.scalar(
        select(Release).where(Release.package_id == package.id).order_by(Release.id.desc()).limit(1)
    )
    shown = shown_files(session, principal, package.owner)
    totals = session.execute(
        _package_files(package.id, shown)
        .with_only_columns(_PLATFORM, func.sum(File.download_count))
        .group_by(_PLATFORM)
    ).all()
    return BadgeFacts(
        package=package,
        version=newest.version if newest else None,
        released_at=newest.created_at if newest else None,
        downloads=sum(int(count or 0) for _, count in totals),
        platforms=sorted(platform for platform, _ in totals),
        license=package.license or _archive_license(session, package),
        install_label=browse.install_label(browse.package_labels(session, package)),
    )


def _archive_license(session: Session, package: Package) -> str:
    facts = session.scalar(
        _package_files(package.id, File.distribution_type == DistributionType.CONDA)
        .with_only_columns(File.facts)
        .order_by(File.id.desc())
        .limit(1)
    )
    license_ = (facts or {}).get("license")
    return license_ if isinstance(license_, str) else ""
