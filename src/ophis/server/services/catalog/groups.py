"""An organization's groups: each gives its members one permission (read, write, admin) on
every package of the organization, or, once packages are added to it, on those only."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ophis.server.db.models import ORG, USER, Account, GroupMember, GroupPackage, OrgGroup, Package
from ophis.server.errors import BadRequest, Conflict, NotFound
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.accounts import OWNERS_GROUP
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import files

_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")
PERMISSIONS = (authz.READ, authz.WRITE, authz.ADMIN)


def get_org(session: Session, login: str) -> Account:
    org = accounts.get_account(session, login)
    if org.kind != ORG:
        raise NotFound(
            f"{org.login} is a user, not an organization; only organizations have groups.",
            "Create an organization with `ophis server org create`.",
        )
    return org


def list_groups(session: Session, principal: Principal, org_login: str) -> list[OrgGroup]:
    """Every group for the organization's admins; the caller's own groups for the others
    (``anaconda channel list`` reads the caller's permission from them)."""
    org = get_org(session, org_login)
    account = authz.require_login(principal)
    query = select(OrgGroup).where(OrgGroup.org_id == org.id).order_by(OrgGroup.name)
    if not authz.at_least(authz.role_on(session, principal, org), authz.ADMIN):
        query = query.join(GroupMember, GroupMember.group_id == OrgGroup.id).where(
            GroupMember.account_id == account.id
        )
    return list(session.scalars(query))


def get_group(session: Session, principal: Principal, org_login: str, name: str) -> OrgGroup:
    """A group, to members of the organization."""
    org = get_org(session, org_login)
    if not authz.can_see_groups(session, principal, org):
        raise _no_group(org, name)
    return _find_group(session, org, name)


def _find_group(session: Session, org: Account, name: str) -> OrgGroup:
    group = session.scalar(select(OrgGroup).where(OrgGroup.org_id == org.id, OrgGroup.name == name))
    if group is None:
        raise _no_group(org, name)
    return group


def _no_group(org: Account, name: str) -> NotFound:
    return NotFound(
        f"{org.login} has no group {name!r}.",
        f"List the groups with `anaconda groups show {org.login}`.",
    )


def save_group(
    session: Session, principal: Principal, org_login: str, name: str, permission: str
) -> OrgGroup:
    """Create a group, or change the permission of an existing one."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    if not _GROUP.match(name):
        raise BadRequest(
            f"{name!r} is not a valid group name.",
            "Use letters, digits, '-' and '_' (at most 80), starting with a letter or digit.",
        )
    if permission not in PERMISSIONS:
        raise BadRequest(
            f"{permission!r} is not a permission.", f"Use one of: {', '.join(PERMISSIONS)}."
        )
    if name == OWNERS_GROUP and permission != authz.ADMIN:
        raise BadRequest(
            f"The {OWNERS_GROUP} group must keep the admin permission.",
            "Create another group for read or write access.",
        )
    group = session.scalar(select(OrgGroup).where(OrgGroup.org_id == org.id, OrgGroup.name == name))
    if group is None:
        group = OrgGroup(org_id=org.id, name=name)
        session.add(group)
    group.permission = permission
    session.commit()
    return group


def members(session: Session, principal: Principal, org_login: str, name: str) -> list[Account]:
    group = get_group(session, principal, org_login, name)
    return _accounts(session, [member.account_id for member in group.members])


def check_member(
    session: Session, principal: Principal, org_login: str, name: str, login: str
) -> None:
    group = get_group(session, principal, org_login, name)
    user = accounts.get_account(session, login)
    if session.get(GroupMember, (group.id, user.id)) is None:
        raise _not_member(user, org_login, name)


def add_member(
    session: Session, principal: Principal, org_login: str, name: str, login: str
) -> None:
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    group = _find_group(session, org, name)
    user = accounts.get_account(session, login)
    if user.kind != USER:
        raise BadRequest(
            f"{user.login} is an organization; only users can be members.",
            "Add that organization's members one by one.",
        )
    if session.get(GroupMember, (group.id, user.id)) is None:
        session.add(GroupMember(group_id=group.id, account_id=user.id))
    session.commit()


def remove_member(
    session: Session, principal: Principal, org_login: str, name: str, login: str
) -> None:
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    group = _find_group(session, org, name)
    user = accounts.get_account(session, login)
    member = session.get(GroupMember, (group.id, user.id))
    if member is None:
        raise _not_member(user, org.login, name)
    _check_not_last_owner(org, group, user)
    session.delete(member)
    session.commit()


def _check_not_last_owner(org: Account, group: OrgGroup, user: Account) -> None:
    """The owners group (admin, never deleted) always keeps a member: so an organization
    always has an admin who can manage it."""
    if group.name == OWNERS_GROUP and len(group.members) == 1:
        raise BadRequest(
            f"{user.login} is the last member of {org.login}/{OWNERS_GROUP}.",
            "Add another owner first: an organization needs an admin.",
        )


def _not_member(user: Account, org_login: str, name: str) -> NotFound:
    return NotFound(
        f"{user.login} is not a member of {org_login}/{name}.",
        f"List the members with `anaconda groups members {org_login}/{name}`.",
    )


def group_packages(
    session: Session, principal: Principal, org_login: str, name: str
) -> list[Package]:
    group = get_group(session, principal, org_login, name)
    ids = [entry.package_id for entry in group.packages]
    query = select(Package).where(Package.id.in_(ids)).order_by(Package.name)
    return list(session.scalars(query))


def add_package(
    session: Session, principal: Principal, org_login: str, name: str, package_name: str
) -> None:
    """Limit the group to the packages added to it (and add this one)."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    group = _find_group(session, org, name)
    if name == OWNERS_GROUP:
        raise BadRequest(
            f"The {OWNERS_GROUP} group administers every package of {org.login}.",
            "Create another group for access to some packages only.",
        )
    package = _org_package(session, org, package_name)
    group.limited = True
    if session.get(GroupPackage, (group.id, package.id)) is None:
        session.add(GroupPackage(group_id=group.id, package_id=package.id))
    session.commit()


def remove_package(
    session: Session, principal: Principal, org_login: str, name: str, package_name: str
) -> None:
    """Take a package out of a group; the group stays limited to the packages it has left
    (none at all: no access), never widening to every package."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    group = _find_group(session, org, name)
    package = _org_package(session, org, package_name)
    entry = session.get(GroupPackage, (group.id, package.id))
    if entry is None:
        raise NotFound(
            f"{org.login}/{package.name} is not in the group {name!r}.",
            f"List them with `anaconda groups packages {org.login}/{name}`.",
        )
    session.delete(entry)
    session.commit()


def _org_package(session: Session, org: Account, name: str) -> Package:
    package = files.find_package(session, org, name)
    if package is None:
        raise authz.not_found(f"{org.login}/{name}")
    return package


def _accounts(session: Session, ids: list[int]) -> list[Account]:
    query = select(Account).where(Account.id.in_(ids)).order_by(Account.login_key)
    return list(session.scalars(query))


# --- the organization settings pages -------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """What one member may do in an organization, from the groups they are in."""

    permission: str | None
    #: the permission holds only on the packages of package-limited groups
    limited: bool


@dataclass(frozen=True)
class Membership:
    org: Account
    standing: Standing


@dataclass(frozen=True)
class GroupView:
    group: OrgGroup
    members: list[Account]
    packages: list[Package]


@dataclass(frozen=True)
class MemberView:
    account: Account
    groups: list[str]
    standing: Standing


@dataclass(frozen=True)
class OrgView:
    org: Account
    #: the caller may change groups and members (else the page is read-only)
    can_manage: bool
    groups: list[GroupView]
    members: list[MemberView]


def standing(groups: list[OrgGroup]) -> Standing:
    """Groups for all packages decide; package-limited ones only when there are no others,
    and only those with packages left (one with none grants nothing)."""
    whole = [group.permission for group in groups if not group.limited]
    if whole:
        return Standing(authz.strongest(whole), limited=False)
    granting = [group.permission for group in groups if group.packages]
    return Standing(authz.strongest(granting), limited=bool(granting))


def create_org(session: Session, principal: Principal, login: str, name: str = "") -> Account:
    """A new organization, whose owners group holds the caller."""
    owner = authz.check_create_org(principal)
    return accounts.create_org(session, login.strip(), owner, name=name.strip()[:200])


def my_orgs(session: Session, principal: Principal) -> list[Membership]:
    """The organizations the caller is a member of, each with the caller's standing."""
    user = authz.require_login(principal)
    mine: dict[int, list[OrgGroup]] = defaultdict(list)
    query = (
        select(OrgGroup)
        .join(GroupMember, GroupMember.group_id == OrgGroup.id)
        .where(GroupMember.account_id == user.id)
    )
    for group in session.scalars(query):
        mine[group.org_id].append(group)
    return [Membership(org, standing(mine[org.id])) for org in accounts.orgs_of(session, user)]


def org_overview(session: Session, principal: Principal, org_login: str) -> OrgView:
    """An organization's groups and members, to its members (a 404 to anyone else)."""
    org = get_org(session, org_login)
    if not authz.can_see_groups(session, principal, org):
        raise authz.not_found(org.login)
    found = list(
        session.scalars(
            select(OrgGroup)
            .where(OrgGroup.org_id == org.id)
            .options(selectinload(OrgGroup.members), selectinload(OrgGroup.packages))
            .order_by(OrgGroup.name)
        )
    )
    people = {
        account.id: account
        for account in _accounts(session, [m.account_id for g in found for m in g.members])
    }
    package_ids = [entry.package_id for group in found for entry in group.packages]
    packages = {
        package.id: package
        for package in session.scalars(select(Package).where(Package.id.in_(package_ids)))
    }
    views = [_group_view(group, people, packages) for group in found]
    return OrgView(
        org,
        authz.can_manage_org(session, principal, org),
        views,
        _member_views(views, list(people.values())),
    )


def _group_view(
    group: OrgGroup, people: dict[int, Account], packages: dict[int, Package]
) -> GroupView:
    members = sorted(
        (people[m.account_id] for m in group.members), key=lambda account: account.login_key
    )
    limited_to = sorted((packages[e.package_id] for e in group.packages), key=lambda p: p.name)
    return GroupView(group, members, limited_to)


def _member_views(groups: list[GroupView], people: list[Account]) -> list[MemberView]:
    of: dict[int, list[OrgGroup]] = defaultdict(list)
    for view in groups:
        for account in view.members:
            of[account.id].append(view.group)
    return [
        MemberView(account, [group.name for group in of[account.id]], standing(of[account.id]))
        for account in people
    ]


def create_group(
    session: Session, principal: Principal, org_login: str, name: str, permission: str
) -> OrgGroup:
    """A new group; unlike :func:`save_group`, an existing name is an error (a form to
    create a group must not quietly change another one)."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    name = name.strip()
    if session.scalar(select(OrgGroup.id).where(OrgGroup.org_id == org.id, OrgGroup.name == name)):
        raise Conflict(
            f"{org.login} already has a group {name!r}.",
            "Change that group's permission in its row, or choose another name.",
        )
    return save_group(session, principal, org.login, name, permission)


def set_permission(
    session: Session, principal: Principal, org_login: str, name: str, permission: str
) -> OrgGroup:
    """Change an existing group's permission (a 404 for a group that is not there)."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    _find_group(session, org, name)
    return save_group(session, principal, org.login, name, permission)


def delete_group(session: Session, principal: Principal, org_login: str, name: str) -> None:
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    group = _find_group(session, org, name)
    if group.name == OWNERS_GROUP:
        raise BadRequest(
            f"The {OWNERS_GROUP} group of {org.login} cannot be deleted: it holds its admins.",
            "Delete another group, or change who is in this one.",
        )
    session.delete(group)
    session.commit()


def remove_from_org(session: Session, principal: Principal, org_login: str, login: str) -> None:
    """Take a user out of every group of the organization."""
    org = get_org(session, org_login)
    authz.check_modify_groups(session, principal, org)
    # a disabled user's memberships can still be removed
    user = accounts.find_account(session, login)
    memberships = [] if user is None else _memberships(session, org, user)
    if user is None or not memberships:
        raise NotFound(
            f"{login} is not a member of {org.login}.",
            f"See the members on the page of {org.login}'s groups.",
        )
    for _member, group in memberships:
        _check_not_last_owner(org, group, user)
    for member, _group in memberships:
        session.delete(member)
    session.commit()


def _memberships(
    session: Session, org: Account, user: Account
) -> list[tuple[GroupMember, OrgGroup]]:
    query = (
        select(GroupMember, OrgGroup)
        .join(OrgGroup, OrgGroup.id == GroupMember.group_id)
        .where(OrgGroup.org_id == org.id, GroupMember.account_id == user.id)
    )
    return [(member, group) for member, group in session.execute(query).tuples()]
