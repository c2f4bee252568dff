"""What the administration pages show: the accounts, the storage used, the recent uploads;
and what they do to accounts: reset a password, disable or enable a user. Only superusers
see or do any of it (:func:`ophis.server.services.accounts.authz.check_superuser`); every
list is one page of a query, and the package counts are counted for that page only."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session, selectinload

from ophis.server.db.models import USER, Account, File, Package, Release
from ophis.server.errors import BadRequest, NotFound
from ophis.server.services.accounts import accounts, authz, web_sessions
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.channels.browse import Page, paged

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


@dataclass(frozen=True)
class PasswordReset:
    account: Account
    #: the password the server chose, to be shown once (None when the admin gave one)
    generated: str | None
    #: how many of their API tokens were revoked
    revoked_tokens: int = 0


def reset_password(
    session: Session,
    principal: Principal,
    login: str,
    password: str = "",
    *,
    revoke_tokens: bool = True,
) -> PasswordReset:
    """Set a user's password (or a generated one when none is given) and sign them out of
    every browser, and revoke their tokens unless told not to, so that whoever knew the old
    password is out too."""
    account = _other_user(session, principal, login, "reset the password of")
    new = password or accounts.generate_password()
    revoked = web_sessions.password_changed(session, account, new, revoke_tokens)
    return PasswordReset(account, None if password else new, revoked)


def set_disabled(session: Session, principal: Principal, login: str, disabled: bool) -> Account:
    """Disable (or enable again) a user; disabling signs them out of every browser."""
    account = _other_user(session, principal, login, "disable" if disabled else "enable")
    accounts.set_disabled(session, account.login, disabled)
    if disabled:
        web_sessions.end_sessions(session, account)
    return account


def _other_user(session: Session, principal: Principal, login: str, action: str) -> Account:
    """A user (also a disabled one) other than the superuser acting."""
    authz.check_superuser(principal)
    account = accounts.find_account(session, login)
    if account is None or account.kind != USER:
        raise NotFound(f"There is no user {login}.", "Pick a user from the list of users.")
    if principal.account is not None and account.id == principal.account.id:
        raise BadRequest(
            f"You cannot {action} your own account here.",
            "Change your own password on your profile page; another superuser may disable"
            " or enable your account.",
        )
    return account


def recent_errors(session: Session, principal: Principal, page: int, size: int = 50) -> Page:
    """One page of the server's error log (unexpected errors, failed upload commits),
    newest first; see :mod:`ophis.server.services.events.error_log`."""
    # imported here: this module's head belongs to the other admin functions' edits
    from ophis.server.db.models import ServerErrorLog

    authz.check_superuser(principal)
    return paged(session, select(ServerErrorLog).order_by(ServerErrorLog.id.desc()), page, size)
