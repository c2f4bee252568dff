"""Packages, releases and distributions as the anaconda-client API sees them: look-ups
that hide what the caller may not read, metadata changes, removals, search, downloads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ophis.server.db.models import (
    Account,
    File,
    Package,
    PackageCollaborator,
    Release,
    utcnow,
)
from ophis.server.errors import BadRequest, Conflict, NotFound
from ophis.server.schemas import PACKAGE_TYPES, ReleaseCreate
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files
from ophis.server.services.events import webhooks
from ophis.server.storage.interfaces import Storage

#: public_attrs keys kept in their own columns; the rest goes to Package.attrs
_COLUMNS = frozenset({"summary", "description", "license", "home", "home_page", "package_types"})
#: loads what the package objects show in a few queries instead of one per file
_FULL = (
    selectinload(Package.owner),
    selectinload(Package.releases).selectinload(Release.files).selectinload(File.labels),
)


# --- packages ---------------------------------------------------------------------------


def get_package(session: Session, principal: Principal, owner_login: str, name: str) -> Package:
    """A package the caller may read; NotFound when it is missing or private to them."""
    owner = accounts.get_account(session, owner_login)
    package = files.find_package(session, owner, name)
    if package is None:
        raise authz.not_found(f"{owner.login}/{name}")
    authz.check_read_package(session, principal, package)
    return package


def list_packages(
    session: Session,
    principal: Principal,
    owner_login: str,
    *,
    platform: str | None = None,
    package_type: str | None = None,
    access: str | None = None,
) -> list[Package]:
    owner = accounts.get_account(session, owner_login)
    query = select(Package).where(Package.owner_id == owner.id)
    return _filtered(session, principal, query, platform, package_type, access)


def my_packages(session: Session, principal: Principal) -> list[Package]:
    account = authz.require_login(principal)
    query = select(Package).where(Package.owner_id == account.id)
    return _filtered(session, principal, query, None, None, None)


def search(
    session: Session,
    principal: Principal,
    name: str,
    *,
    package_type: str | None = None,
    platform: str | None = None,
) -> list[Package]:
    """Packages whose name contains ``name`` (case-insensitive), visible to the caller."""
    pattern = "%" + name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = select(Package).where(func.lower(Package.name).like(pattern, escape="\\"))
    return _filtered(session, principal, query, platform, package_type, None)


def _filtered(
    session: Session,
    principal: Principal,
    query: Any,
    platform: str | None,
    package_type: str | None,
    access: str | None,
) -> list[Package]:
    packages = session.scalars(query.options(*_FULL).order_by(Package.name)).all()
    return [
        package
        for package in packages
        if authz.can_read_package(session, principal, package, "api:read")
        and (not package_type or package_type in (package.package_types or []))
        and (not platform or _has_platform(package, platform))
        and (not access or access == ("public" if authz.is_public(package) else "private"))
    ]


def _has_platform(package: Package, platform: str) -> bool:
    """noarch files install on every platform, so they match any platform filter."""
    return any(
        row.subdir in (platform, "noarch") for release in package.releases for row in release.files
    )


def create_package(
    session: Session, principal: Principal, owner_login: str, name: str, public: bool, attrs: dict
) -> Package:
    owner = accounts.get_account(session, owner_login)
    authz.check_write_owner(session, principal, owner)
    files.check_package_name(name)
    if files.find_package(session, owner, name) is not None:
        raise Conflict(
            f"The package {owner.login}/{name} already exists.",
            "Upload to it, or remove it first with `anaconda remove OWNER/PACKAGE`.",
        )
    package = files.ensure_package(session, owner, name, public=public)
    _set_attrs(package, attrs, replace=True)
    session.commit()
    return package


def update_package(
    session: Session, principal: Principal, owner_login: str, name: str, attrs: dict
) -> Package:
    package = get_package(session, principal, owner_login, name)
    authz.check_write_package(session, principal, package)
    _set_attrs(package, attrs, replace=False)
    package.modified_at = utcnow()
    session.commit()
    return package


def set_public(
    session: Session, principal: Principal, owner_login: str, name: str, public: bool
) -> Package:
    """Make a package public or private. The channel caches need no purge: their keys hold
    the set of packages hidden from each caller, which this changes."""
    package = get_package(session, principal, owner_login, name)
    authz.check_write_package(session, principal, package)
    package.public = public
    package.modified_at = utcnow()
    session.commit()
    return package


def _set_attrs(package: Package, attrs: dict[str, Any], *, replace: bool) -> None:
    """Take ``public_attrs`` as the client sends them (``license`` may be an object)."""
    license_ = attrs.get("license")
    if isinstance(license_, dict):
        attrs = {
            **attrs,
            "license": license_.get("name"),
            "license_url": license_.get("url"),
            "license_family": license_.get("family"),
        }
    types = attrs.get("package_types") or []
    unknown = sorted(set(types) - PACKAGE_TYPES)
    if unknown:
        raise BadRequest(
            f"Unknown package types: {', '.join(unknown)}.",
            f"Use among: {', '.join(sorted(PACKAGE_TYPES))}.",
        )
    for type_ in types:
        files.add_type(package, type_)
    for column, key in (
        ("summary", "summary"),
        ("description", "description"),
        ("license", "license"),
    ):
        if attrs.get(key) is not None or replace:
            setattr(package, column, str(attrs.get(key) or ""))
    home = attrs.get("home") or attrs.get("home_page")
    if home is not None or replace:
        package.home = str(home or "")
    extra = {k: v for k, v in attrs.items() if k not in _COLUMNS and k != "name"}
    package.attrs = extra if replace else {**package.attrs, **extra}


def remove_package(
    session: Session, storage: Storage, principal: Principal, owner_login: str, name: str
) -> None:
    package = get_package(session, principal, owner_login, name)
    authz.check_write_package(session, principal, package)
    rows = [row for release in package.releases for row in release.files]
    _remove_with_files(session, storage, principal, package, rows)


# --- collaborators ---------------------------------------------------------------------


def collaborators(
    session: Session, principal: Principal, owner_login: str, name: str
) -> list[Account]:
    package = get_package(session, principal, owner_login, name)
    return list(
        session.scalars(
            select(Account)
            .join(PackageCollaborator, PackageCollaborator.account_id == Account.id)
            .where(PackageCollaborator.package_id == package.id)
            .order_by(Account.login_key)
        )
    )


def add_collaborator(
    session: Session, principal: Principal, owner_login: str, name: str, login: str
) -> None:
    package = get_package(session, principal, owner_login, name)
    authz.check_admin_owner(session, principal, package.owner)
    user = accounts.get_account(session, login)
    if user.kind != "user":
        raise BadRequest(
            f"{user.login} is an organization; collaborators are users.",
            "Add the organization's members instead, or give a group access to the package.",
        )
    if session.get(PackageCollaborator, (package.id, user.id)) is None:
        session.add(PackageCollaborator(package_id=package.id, account_id=user.id))
    session.commit()


def remove_collaborator(
    session: Session, principal: Principal, owner_login: str, name: str, login: str
) -> None:
    package = get_package(session, principal, owner_login, name)
    authz.check_admin_owner(session, principal, package.owner)
    user = accounts.get_account(session, login)
    collaborator = session.get(PackageCollaborator, (package.id, user.id))
    if collaborator is None:
        raise NotFound(
            f"{user.login} is not a collaborator of {package.owner.login}/{package.name}.",
            "List them with `anaconda package --list-collaborators OWNER/PACKAGE`.",
        )
    session.delete(collaborator)
    session.commit()


# --- releases ---------------------------------------------------------------------------


def get_release(
    session: Session, principal: Principal, owner_login: str, name: str, version: str
) -> Release:
    package = get_package(session, principal, owner_login, name)
    release = files.find_release(session, package, version)
    if release is None:
        raise authz.not_found(f"{package.owner.login}/{package.name}/{version}")
    return release


def create_release(
    session: Session,
    principal: Principal,
    owner_login: str,
    name: str,
    version: str,
    body: ReleaseCreate,
) -> Release:
    package = get_package(session, principal, owner_login, name)
    authz.check_write_package(session, principal, package)
    if files.find_release(session, package, version) is not None:
        raise Conflict(
            f"The release {package.owner.login}/{package.name}/{version} already exists.",
            "Upload files to it, or change it with `anaconda update`.",
        )
    release = files.ensure_release(session, package, version)
    release.summary = body.summary or ""
    release.description = body.description or ""
    release.attrs = {k: v for k, v in (body.model_extra or {}).items() if k != "version"}
    session.commit()
    return release


def update_release(
    session: Session, principal: Principal, owner_login: str, name: str, version: str, attrs: dict
) -> Release:
    release = get_release(session, principal, owner_login, name, version)
    authz.check_write_package(session, principal, release.package)
    if attrs.get("summary") is not None:
        release.summary = str(attrs["summary"])
    if attrs.get("description") is not None:
        release.description = str(attrs["description"])
    extra = {k: v for k, v in attrs.items() if k not in ("summary", "description")}
    release.attrs = {**release.attrs, **extra}
    session.commit()
    return release


def remove_release(
    session: Session,
    storage: Storage,
    principal: Principal,
    owner_login: str,
    name: str,
    version: str,
) -> None:
    release = get_release(session, principal, owner_login, name, version)
    authz.check_write_package(session, principal, release.package)
    _remove_with_files(session, storage, principal, release, list(release.files))


def _remove_with_files(
    session: Session,
    storage: Storage,
    principal: Principal,
    parent: Package | Release,
    rows: list[File],
) -> None:
    """Delete a package or release; the ORM cascade takes its files in the same flush."""
    for row in rows:
        _check_unlocked(session, principal, row)
        files.touch(session, row)
        webhooks.file_event(session, row, webhooks.REMOVE)
    session.delete(parent)
    session.commit()
    files.delete_unshared(session, storage, [row.storage_key for row in rows])


# --- distributions ----------------------------------------------------------------------


def get_dist(
    session: Session,
    principal: Principal,
    owner_login: str,
    name: str,
    version: str,
    basename: str,
) -> File:
    release = get_release(session, principal, owner_login, name, version)
    row = next((row for row in release.files if row.basename == basename), None)
    if row is None:
        raise authz.not_found(f"{release.package.owner.login}/{name}/{version}/{basename}")
    return row


def remove_dist(
    session: Session,
    storage: Storage,
    principal: Principal,
    owner_login: str,
    name: str,
    version: str,
    basename: str,
) -> File:
    row = get_dist(session, principal, owner_login, name, version, basename)
    package = row.release.package
    authz.check_write_package(session, principal, package)
    _check_unlocked(session, principal, row)
    files.remove_file(session, storage, row)
    return row


def _check_unlocked(session: Session, principal: Principal, row: File) -> None:
    for label in row.labels:
        authz.check_label_unlocked(session, principal, row.release.package.owner, label)


def visible_files(session: Session, principal: Principal, rows: Iterable[File]) -> list[File]:
    return [
        row
        for row in rows
        if authz.can_read_package(session, principal, row.release.package, "api:read")
    ]
