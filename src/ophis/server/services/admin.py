"""What the administration pages show: the accounts, the storage used, the recent uploads.
Only superusers see any of it (:func:`ophis.server.services.authz.check_superuser`); every
list is one page of a query, and the package counts are counted for that page only."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from ophis.server.db.models import USER, Account, File, Package, Release
from ophis.server.services import authz
from ophis.server.services.authz import Principal
from ophis.server.services.browse import Page, paged

RECENT_UPLOADS = 50


@dataclass(frozen=True)
class UserRow:
    account: Account
    packages: int


@dataclass(frozen=True)
class Storage:
    size: int
    files: int
    blobs: int


def users(session: Session, principal: Principal, number: int, size: int = 50) -> Page:
    """One page of the users, by name, each with the number of packages they own."""
    authz.check_superuser(principal)
    query = select(Account).where(Account.kind == USER).order_by(Account.login_key)
    page = paged(session, query, number, size)
    counts = dict(
        session.execute(
            select(Package.owner_id, func.count(Package.id))
            .where(Package.owner_id.in_([a.id for a in page.items]))
            .group_by(Package.owner_id)
        )
        .tuples()
        .all()
    )
    return replace(page, items=[UserRow(a, counts.get(a.id, 0)) for a in page.items])


def storage(session: Session, principal: Principal) -> Storage:
    """Bytes and files stored, and distinct blobs (files may share one)."""
    authz.check_superuser(principal)
    row = session.execute(
        select(
            func.coalesce(func.sum(File.size), 0),
            func.count(File.id),
            func.count(distinct(File.storage_key)),
        )
    ).one()
    return Storage(int(row[0]), int(row[1]), int(row[2]))


def recent_uploads(session: Session, principal: Principal) -> list[File]:
    """The newest files, with their package and its owner."""
    authz.check_superuser(principal)
    query = (
        select(File)
        .options(
            selectinload(File.release).selectinload(Release.package).selectinload(Package.owner)
        )
        .order_by(File.id.desc())
        .limit(RECENT_UPLOADS)
    )
    return list(session.scalars(query))
