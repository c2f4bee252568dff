"""Users and organizations (every one a namespace, and so a channel)."""

from __future__ import annotations

import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.security.passwords import hash_password, needs_rehash, verify_password
from ophis.server.db.models import ORG, USER, Account, GroupMember, Label, OrgGroup
from ophis.server.errors import BadRequest, Conflict, NotFound, Unauthorized

_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
#: first path segments of the server's own URLs, which no namespace may take
RESERVED = frozenset(
    {
        "api",
        "notebooks",
        "deployments",
        "cves",
        "conda",
        "pypi",
        "t",
        "static",
        "healthz",
        "readyz",
        "login",
        "logout",
        "signup",
        "settings",
        "search",
        "user",
        "users",
        "org",
        "orgs",
        "label",
        "labels",
        "files",
        "docs",
        "openapi",
    }
)
OWNERS_GROUP = "owners"
MIN_PASSWORD = 8


def login_key(login: str) -> str:
    return login.lower()


def find_account(session: Session, login: str) -> Account | None:
    return session.scalar(select(Account).where(Account.login_key == login_key(login)))


def get_account(session: Session, login: str) -> Account:
    account = find_account(session, login)
    if account is None or account.is_disabled:
        raise NotFound(
            f"User {login} does not exist.", "Check the name of the user or organization."
        )
    return account


def _check_new_login(session: Session, login: str) -> None:
    if not _LOGIN.match(login):
        raise BadRequest(
            f"{login!r} is not a valid name.",
            "Use letters, digits, '-' and '_' (at most 80), starting with a letter or digit.",
        )
    if login_key(login) in RESERVED:
        raise BadRequest(f"{login!r} is reserved by the server.", "Choose another name.")
    if find_account(session, login) is not None:
        raise Conflict(f"The name {login!r} is taken.", "Choose another name.")


def create_user(
    session: Session,
    login: str,
    password: str,
    *,
    email: str = "",
    name: str = "",
    superuser: bool = False,
) -> Account:
    _check_new_login(session, login)
    check_password_strength(password)
    user = Account(
        login=login,
        login_key=login_key(login),
        kind=USER,
        email=email,
        name=name,
        password_hash=hash_password(password),
        is_superuser=superuser,
    )
    session.add(user)
    session.flush()
    session.add(Label(owner_id=user.id, name="main"))
    session.commit()
    return user


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(
            f"The password is too short ({len(password)} characters).",
            f"Use at least {MIN_PASSWORD} characters.",
        )


def generate_password() -> str:
    return secrets.token_urlsafe(15)


def create_org(session: Session, login: str, owner: Account, *, name: str = "") -> Account:
    """A new organization whose ``owners`` group (admin) holds ``owner``."""
    _check_new_login(session, login)
    org = Account(login=login, login_key=login_key(login), kind=ORG, name=name)
    session.add(org)
    session.flush()
    session.add(Label(owner_id=org.id, name="main"))
    group = OrgGroup(org_id=org.id, name=OWNERS_GROUP, permission="admin")
    session.add(group)
    session.flush()
    session.add(GroupMember(group_id=group.id, account_id=owner.id))
    session.commit()
    return org


def authenticate(session: Session, login: str, password: str) -> Account:
    account = find_account(session, login)
    # the password is checked even without an account: the same time either way
    valid = verify_password(account.password_hash if account else None, password)
    if not valid or account is None or account.kind != USER or account.is_disabled:
        raise Unauthorized(
            "Invalid Username password combination.",
            "Check the user name and password, or ask an administrator to reset the password.",
        )
    if account.password_hash and needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        session.commit()
    return account


def set_password(session: Session, account: Account, password: str) -> None:
    check_password_strength(password)
    account.password_hash = hash_password(password)
    session.commit()


def set_disabled(session: Session, login: str, disabled: bool) -> Account:
    account = find_account(session, login)
    if account is None:
        raise NotFound(f"User {login} does not exist.", "List users with `ophis server user list`.")
    account.is_disabled = disabled
    session.commit()
    return account


def list_accounts(session: Session, kind: str | None = None) -> list[Account]:
    query = select(Account).order_by(Account.login_key)
    if kind:
        query = query.where(Account.kind == kind)
    return list(session.scalars(query))


def orgs_of(session: Session, user: Account) -> list[Account]:
    return list(
        session.scalars(
            select(Account)
            .join(OrgGroup, OrgGroup.org_id == Account.id)
            .join(GroupMember, GroupMember.group_id == OrgGroup.id)
            .where(GroupMember.account_id == user.id, Account.is_disabled.is_(False))
            .distinct()
            .order_by(Account.login_key)
        )
    )


def add_member(session: Session, org: Account, group_name: str, user: Account) -> None:
    group = session.scalar(
        select(OrgGroup).where(OrgGroup.org_id == org.id, OrgGroup.name == group_name)
    )
    if group is None:
        raise NotFound(f"{org.login} has no group {group_name!r}.", "Create the group first.")
    if session.get(GroupMember, (group.id, user.id)) is None:
        session.add(GroupMember(group_id=group.id, account_id=user.id))
    session.commit()
