"""What the web site's pages show: the newest packages, an owner's packages and labels, a
label's files, a package with its versions and files. Every list is one page of a query
(LIMIT/OFFSET, one row more to know whether a next page exists, no count of the whole
table), and what the caller may not read is filtered out in SQL by
:func:`ophis.server.services.accounts.authz.readable_packages`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from ophis.server.db.models import Account, File, FileLabel, Label, Package, Release
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files, labels, packages
from ophis.server.services.trust import channel_policy

SCOPE = "api:read"
#: the deepest page a list goes to: OFFSET costs grow with it, and no one reads that far
MAX_PAGE = 1000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    size: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class PackageRow:
    """A package in a list, with the version of its newest release."""

    package: Package
    latest: str | None


@dataclass(frozen=True)
class OwnerOverview:
    owner: Account
    packages: Page
    labels: Page


@dataclass(frozen=True)
class PackageDetail:
    package: Package
    can_write: bool
    latest: str | None
    labels: list[str]
    versions: Page
    files: Page
    #: the version the file list is narrowed to, if any
    version: str | None


def paged(session: Session, query: Select[Any], number: int, size: int) -> Page:
    number = min(max(1, number), MAX_PAGE)
    rows = list(session.scalars(query.limit(size + 1).offset((number - 1) * size)))
    return Page(rows[:size], number, size, len(rows) > size)


def package_rows(session: Session, found: list[Package]) -> list[PackageRow]:
    """Each package with its newest release's version: one query for the whole page."""
    newest = (
        select(func.max(Release.id))
        .where(Release.package_id.in_([p.id for p in found]))
        .group_by(Release.package_id)
    )
    versions = dict(
        session.execute(select(Release.package_id, Release.version).where(Release.id.in_(newest)))
        .tuples()
        .all()
    )
    return [PackageRow(package, versions.get(package.id)) for package in found]


def listed(query: Select[Any], principal: Principal) -> Select[Any]:
    """Packages the caller may read, of owners that are not disabled."""
    return (
        query.join(Account, Account.id == Package.owner_id)
        .where(Account.is_disabled.is_(False), authz.readable_packages(principal, SCOPE))
        .options(selectinload(Package.owner))
    )


def recent_packages(session: Session, limit: int = 12) -> list[PackageRow]:
    """The public packages changed last (walks ``ix_packages_public_modified_at``)."""
    query = listed(select(Package), Principal()).order_by(Package.modified_at.desc())
    return package_rows(session, list(session.scalars(query.limit(limit))))


def owner_overview(
    session: Session, principal: Principal, login: str, number: int, labels_number: int
) -> OwnerOverview:
    owner = accounts.get_account(session, login)
    return OwnerOverview(
        owner,
        owner_packages(session, principal, owner, number),
        owner_labels(session, principal, owner, labels_number),
    )


def owner_packages(
    session: Session, principal: Principal, owner: Account, number: int, size: int = 25
) -> Page:
    query = listed(select(Package).where(Package.owner_id == owner.id), principal)
    page = paged(session, query.order_by(Package.name), number, size)
    return replace(page, items=package_rows(session, page.items))


def owner_labels(
    session: Session, principal: Principal, owner: Account, number: int, size: int = 50
) -> Page:
    query = labels.visible_labels(session, principal, owner, SCOPE).order_by(Label.name)
    return paged(session, query, number, size)


def label_files(
    session: Session,
    principal: Principal,
    owner_login: str,
    name: str,
    number: int,
    size: int = 50,
) -> tuple[Account, Label, Page]:
    """A label and one page of its files the caller may read, newest first; NotFound for a
    label the caller may not see, worded as for one that does not exist."""
    owner = accounts.get_account(session, owner_login)
    query = labels.visible_labels(session, principal, owner, SCOPE).where(Label.name == name)
    label = session.scalar(query)
    if label is None:
        raise authz.not_found(f"{owner.login}/labels/{name}")
    rows = (
        select(File)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Release, Release.id == File.release_id)
        .join(Package, Package.id == Release.package_id)
        .where(FileLabel.label_id == label.id, authz.readable_packages(principal, SCOPE))
        .options(selectinload(File.release).selectinload(Release.package))
        # FileLabel's column, not File's: ix_file_labels_label_file gives it in order
        .order_by(FileLabel.file_id.desc())
    )
    if not authz.at_least(authz.role_on(session, principal, owner), authz.WRITE):
        rows = rows.where(channel_policy.hidden_clause(owner.id, name))  # as in its repodata
    return owner, label, paged(session, rows, number, size)


def package_detail(
    session: Session,
    principal: Principal,
    owner_login: str,
    name: str,
    *,
    version: str | None = None,
    files_page: int = 1,
    versions_page: int = 1,
) -> PackageDetail:
    """A package the caller may read (NotFound otherwise) with one page of its versions
    and one of its files, newest first, narrowed to ``version`` when given."""
    package = packages.get_package(session, principal, owner_login, name)
    versions = select(Release).where(Release.package_id == package.id)
    rows = (
        select(File)
        .join(Release, Release.id == File.release_id)
        .where(Release.package_id == package.id)
        .options(selectinload(File.labels), selectinload(File.release))
        .order_by(File.id.desc())
    )
    if version:
        rows = rows.where(Release.version == version)
    can_write = authz.can_write_package(session, principal, package)
    if not can_write:  # what a policy hides from every label is not listed either
        rows = rows.where(channel_policy.hidden_everywhere_clause(package.owner_id))
    return PackageDetail(
        package=package,
        can_write=can_write,
        latest=_newest_version(session, package),
        labels=package_labels(session, package),
        versions=paged(session, versions.order_by(Release.id.desc()), versions_page, 20),
        files=paged(session, rows, files_page, 50),
        version=version,
    )


def _newest_version(session: Session, package: Package) -> str | None:
    query = select(Release.version).where(Release.package_id == package.id)
    return session.scalar(query.order_by(Release.id.desc()).limit(1))


def package_labels(session: Session, package: Package) -> list[str]:
    return list(
        session.scalars(
            select(Label.name)
            .join(FileLabel, FileLabel.label_id == Label.id)
            .join(File, File.id == FileLabel.file_id)
            .join(Release, Release.id == File.release_id)
            .where(Release.package_id == package.id)
            .distinct()
            .order_by(Label.name)
        )
    )


def install_label(labels: list[str]) -> str | None:
    """The label install commands use: ``main`` (the plain channel) when the package is
    there, else its first label; None when no label holds any of its files."""
    if files.MAIN in labels:
        return files.MAIN
    return labels[0] if labels else None
