"""Who may do what: every authorization decision of the server is made here.

Roles on a namespace: a user is ``admin`` of their own; an organization's members get the
strongest permission among their groups (``read`` < ``write`` < ``admin``); a group limited to
some packages grants its permission only on those; a package's collaborators may write it;
superusers are ``admin`` everywhere. A token narrows this further by its scopes and, when made
for an organization, to that organization's namespace.

A package is public when its own ``public`` flag is set and its owner's channel is not
private (:func:`is_public`; :func:`public_packages` is the same rule in SQL). Everything
that shows or serves packages asks one of the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session, aliased

from ophis.server.db.models import (
    ORG,
    USER,
    Account,
    GroupMember,
    GroupPackage,
    Label,
    OrgGroup,
    Package,
    PackageCollaborator,
)
from ophis.server.errors import Forbidden, NotFound, Unauthorized

READ, WRITE, ADMIN = "read", "write", "admin"
_RANK = {None: 0, READ: 1, WRITE: 2, ADMIN: 3}

#: scope -> description, as ``GET /scopes`` lists them
SCOPES: dict[str, str] = {
    "all": "Allow all operations",
    "api": "Allow all API operations",
    "api:read": "Read access to the API: accounts, packages, labels, private listings",
    "api:write": "Write access to the API: upload, label, copy, remove",
    "api:modify-group": "Change an organization's groups and members",
    "conda": "Allow all operations on conda channels",
    "conda:download": "Download private conda packages and repodata",
    "pypi": "Allow all operations on pip indexes",
    "pypi:download": "Download private pip packages",
    "pypi:upload": "Upload pip packages",
    "repos": "Download from conda channels and pip indexes",
    "deployment:invoke": "Call deployments (a deployment token: that deployment only)",
    "auth:manage": "Create, list and revoke the account's tokens (never broader than itself)",
}
#: The order of scopes, defined here only: a scope grants itself and those it lists; ``all``
#: grants every scope. Token management (``auth:manage``) comes with ``all`` alone, so that a
#: token made for downloads or the API cannot mint, list or revoke tokens.
IMPLIES: dict[str, frozenset[str]] = {
    "api": frozenset({"api:read", "api:write", "api:modify-group"}),
    "conda": frozenset({"conda:download"}),
    "pypi": frozenset({"pypi:download", "pypi:upload"}),
    "repos": frozenset({"conda:download", "pypi:download"}),
}
#: the scope that creates, lists and revokes tokens
MANAGE_TOKENS = "auth:manage"


def grants(held: Iterable[str], scope: str) -> bool:
    """Does a credential holding the scopes ``held`` grant ``scope``?"""
    held = frozenset(held)
    return bool({"all", scope} & held) or any(scope in IMPLIES.get(h, ()) for h in held)


@dataclass(frozen=True)
class Principal:
    """The caller of one request: an account and what its credential allows."""

    account: Account | None = None
    scopes: frozenset[str] = frozenset()
    #: a token made for an organization acts only within that namespace
    org_id: int | None = None
    token_id: int | None = None
    #: a deployment token reaches this deployment only
    deployment_id: int | None = None
    #: when the token expires (None: a password, a web session or a token that never does)
    expires_at: datetime | None = None

    @property
    def is_anonymous(self) -> bool:
        return self.account is None

    def has_scope(self, scope: str) -> bool:
        return grants(self.scopes, scope)


ANONYMOUS = Principal()
#: what a password login may do
ALL = frozenset({"all"})


def password_principal(account: Account) -> Principal:
    """Someone who proved the account's password (Basic auth, a web session) or the
    server's operator: every scope, no expiry, no binding."""
    return Principal(account=account, scopes=ALL)


def require_login(principal: Principal) -> Account:
    if principal.account is None:
        raise Unauthorized(
            "This request needs a token.",
            "Log in with `anaconda login` or pass a token (`-t TOKEN`, or /t/<token>/ in the URL).",
        )
    return principal.account


def role_on(session: Session, principal: Principal, owner: Account) -> str | None:
    """The caller's role on a whole namespace (not counting package-limited groups)."""
    account = principal.account
    if account is None or account.is_disabled:
        return None
    if principal.org_id is not None and principal.org_id != owner.id:
        return None
    if account.is_superuser or account.id == owner.id:
        return ADMIN
    if owner.kind != ORG:
        return None
    permissions = session.scalars(
        select(OrgGroup.permission)
        .join(GroupMember, GroupMember.group_id == OrgGroup.id)
        .where(
            OrgGroup.org_id == owner.id,
            GroupMember.account_id == account.id,
            OrgGroup.limited.is_(False),
        )
    )
    return max(permissions, key=lambda p: _RANK.get(p, 0), default=None)


def package_role(session: Session, principal: Principal, package: Package) -> str | None:
    role = role_on(session, principal, package.owner)
    account = principal.account
    if account is None or (principal.org_id is not None and principal.org_id != package.owner_id):
        return role
    collaborator = session.get(PackageCollaborator, (package.id, account.id))
    if collaborator is not None and _RANK[role] < _RANK[WRITE]:
        role = WRITE
    limited = session.scalars(
        select(OrgGroup.permission)
        .join(GroupMember, GroupMember.group_id == OrgGroup.id)
        .join(GroupPackage, GroupPackage.group_id == OrgGroup.id)
        .where(GroupMember.account_id == account.id, GroupPackage.package_id == package.id)
    )
    return max([role, *limited], key=lambda p: _RANK.get(p, 0))


def at_least(role: str | None, wanted: str) -> bool:
    return _RANK.get(role, 0) >= _RANK[wanted]


def strongest(permissions: Iterable[str | None]) -> str | None:
    """The strongest of some group permissions (None for none)."""
    return max(permissions, key=lambda p: _RANK.get(p, 0), default=None)


def can_see_private(session: Session, principal: Principal, owner: Account, scope: str) -> bool:
    """May the caller see the owner's private packages through ``scope``
    (``api:read``, ``conda:download``, ``pypi:download``)?"""
    return principal.has_scope(scope) and at_least(role_on(session, principal, owner), READ)


def is_public(package: Package) -> bool:
    """May anyone read ``package``? Not when it is private, nor when its whole channel is."""
    return package.public and not package.owner.private_channel


def public_packages() -> ColumnElement[bool]:
    """:func:`is_public` as a WHERE clause on ``Package``. The owner is an alias of its own,
    correlated to ``Package`` only, so that a query already joining ``Account`` keeps its
    meaning; an indexed primary-key look-up per package row."""
    owner = aliased(Account)
    private_channel = (
        select(owner.id)
        .where(owner.id == Package.owner_id, owner.private_channel.is_(True))
        .exists()
    )
    return and_(Package.public.is_(True), ~private_channel)


def channel_has_private_packages() -> ColumnElement[bool]:
    """For a query on ``Account``: has that owner any package not everyone may read?"""
    private_package = (
        select(Package.id).where(Package.owner_id == Account.id, Package.public.is_(False))
    ).exists()
    return or_(Account.private_channel.is_(True), private_package)


def can_read_channel(session: Session, principal: Principal, owner: Account, scope: str) -> bool:
    """May the caller see what the channel says of itself (its notices)? Anyone, unless the
    channel is private: then its members and those granted some of its packages."""
    if not owner.private_channel:
        return True
    if can_see_private(session, principal, owner, scope):
        return True
    return bool(_granted_packages(session, principal, owner, scope))


def can_read_package(session: Session, principal: Principal, package: Package, scope: str) -> bool:
    if is_public(package):
        return True
    return principal.has_scope(scope) and at_least(package_role(session, principal, package), READ)


def readable_packages(principal: Principal, scope: str) -> ColumnElement[bool]:
    """What :func:`can_read_package` decides, as a WHERE clause on ``Package``: listings that
    page through the database (the web site's owner pages and search) filter in SQL instead
    of loading every row to ask about each."""
    account = principal.account
    if account is None or account.is_disabled or not principal.has_scope(scope):
        return public_packages()
    if account.is_superuser:
        granted: ColumnElement[bool] = true()
    else:
        member_of = (
            select(OrgGroup.org_id)
            .join(GroupMember, GroupMember.group_id == OrgGroup.id)
            .where(GroupMember.account_id == account.id, OrgGroup.limited.is_(False))
        )
        collaborating = select(PackageCollaborator.package_id).where(
            PackageCollaborator.account_id == account.id
        )
        in_groups = (
            select(GroupPackage.package_id)
            .join(GroupMember, GroupMember.group_id == GroupPackage.group_id)
            .where(GroupMember.account_id == account.id)
        )
        granted = or_(
            Package.owner_id == account.id,
            Package.owner_id.in_(member_of),
            Package.id.in_(collaborating),
            Package.id.in_(in_groups),
        )
    if principal.org_id is not None:
        granted = and_(Package.owner_id == principal.org_id, granted)
    return or_(public_packages(), granted)


def hidden_packages(
    session: Session, principal: Principal, owner: Account, scope: str
) -> frozenset[int]:
    """The ids of ``owner``'s private packages the caller may not see through ``scope``:
    channel indexes leave them out (the empty set when the caller sees everything)."""
    query = select(Package.id).where(Package.owner_id == owner.id)
    if not owner.private_channel:  # a private channel hides every package
        query = query.where(Package.public.is_(False))
    private = set(session.scalars(query))
    if not private or can_see_private(session, principal, owner, scope):
        return frozenset()
    return frozenset(private - _granted_packages(session, principal, owner, scope))


def _granted_packages(
    session: Session, principal: Principal, owner: Account, scope: str
) -> set[int]:
    """Packages of ``owner`` the caller may read as a collaborator or through a group
    limited to them (what :func:`package_role` grants beyond the namespace role)."""
    account = principal.account
    if account is None or not principal.has_scope(scope):
        return set()
    if principal.org_id is not None and principal.org_id != owner.id:
        return set()
    collaborating = select(PackageCollaborator.package_id).where(
        PackageCollaborator.account_id == account.id
    )
    in_groups = (
        select(GroupPackage.package_id)
        .join(GroupMember, GroupMember.group_id == GroupPackage.group_id)
        .where(GroupMember.account_id == account.id)
    )
    return set(
        session.scalars(
            select(Package.id).where(
                Package.owner_id == owner.id,
                Package.id.in_(collaborating.union(in_groups)),
            )
        )
    )


def check_read_package(
    session: Session, principal: Principal, package: Package, scope: str = "api:read"
) -> None:
    if not can_read_package(session, principal, package, scope):
        raise not_found(f"{package.owner.login}/{package.name}")


def can_write_package(session: Session, principal: Principal, package: Package) -> bool:
    """Would :func:`check_write_package` let the caller change ``package``?"""
    return (
        not principal.is_anonymous
        and principal.has_scope("api:write")
        and can_read_package(session, principal, package, "api:read")
        and at_least(package_role(session, principal, package), WRITE)
    )


def check_write_owner(session: Session, principal: Principal, owner: Account) -> None:
    """May the caller add packages to (or change labels of) ``owner``'s namespace?"""
    allowed = at_least(role_on(session, principal, owner), WRITE)
    if not allowed and principal.has_scope("api:write"):
        _explain_limited_groups(session, principal, owner)
    _check_write(principal, allowed, owner.login)


def _explain_limited_groups(session: Session, principal: Principal, owner: Account) -> None:
    """A member whose write permission comes from groups limited to some packages (perhaps
    none left) is told so, and what an admin can do, rather than "no write access"."""
    if principal.account is None or principal.org_id not in (None, owner.id):
        return
    limited = list(
        session.scalars(
            select(OrgGroup)
            .join(GroupMember, GroupMember.group_id == OrgGroup.id)
            .where(
                OrgGroup.org_id == owner.id,
                GroupMember.account_id == principal.account.id,
                OrgGroup.limited.is_(True),
                OrgGroup.permission.in_([WRITE, ADMIN]),
            )
            .order_by(OrgGroup.name)
        )
    )
    if not limited:
        return
    names = ", ".join(f"{owner.login}/{group.name}" for group in limited)
    empty = [group.name for group in limited if not group.packages]
    left = f" ({', '.join(empty)}: none left)" if empty else ""
    # anaconda-client shows the message only: it says what to do as well
    raise Forbidden(
        f"You have no write access to {owner.login} as a whole: {names} grant write only on"
        f" the packages added to them{left}. Ask an admin of {owner.login} to add the package"
        f" to your group (`anaconda groups add_package {owner.login}/{limited[0].name}/PACKAGE`)"
        " or you to a group for all packages.",
        "Adding packages and changing labels need write access to the whole organization.",
    )


def check_write_package(session: Session, principal: Principal, package: Package) -> None:
    check_read_package(session, principal, package)
    _check_write(
        principal,
        at_least(package_role(session, principal, package), WRITE),
        f"{package.owner.login}/{package.name}",
    )


def check_admin_owner(
    session: Session, principal: Principal, owner: Account, action: str = ""
) -> None:
    """May the caller administer ``owner``'s namespace (``action`` names what for, in the
    refusal)?"""
    allowed = at_least(role_on(session, principal, owner), ADMIN)
    _check_write(principal, allowed, owner.login, ADMIN, action)


def check_manage_channel(session: Session, principal: Principal, owner: Account) -> None:
    """The channel's settings (visibility, notices) are its admins' business; to anyone
    else they are not there."""
    require_login(principal)
    if not at_least(role_on(session, principal, owner), ADMIN):
        raise not_found(f"The channel settings of {owner.login}")
    _check_write(principal, True, owner.login)


def can_curate(session: Session, principal: Principal, package: Package) -> bool:
    """May the caller set the vulnerability statuses of ``package``'s files? Site admins,
    and the admins of the package's namespace (its owner, an organization's admins)."""
    return (
        principal.has_scope("api:write")
        and can_read_package(session, principal, package, "api:read")
        and at_least(role_on(session, principal, package.owner), ADMIN)
    )


def check_curate(session: Session, principal: Principal, package: Package) -> None:
    check_read_package(session, principal, package)
    what = f"the vulnerability statuses of {package.owner.login}/{package.name}"
    _check_write(principal, True, what)
    if not at_least(role_on(session, principal, package.owner), ADMIN):
        raise Forbidden(
            f"You may not change {what}.",
            f"Only admins of {package.owner.login} and of the server curate them: ask one.",
        )


def check_manage_labels(session: Session, principal: Principal, owner: Account) -> None:
    """The label settings page of ``owner``: for those who may change its labels (404 to
    the others, as for any page they may not see)."""
    require_login(principal)
    if not at_least(role_on(session, principal, owner), WRITE):
        raise not_found(f"The labels of {owner.login}")
    _check_write(principal, True, owner.login)


def check_label_unlocked(
    session: Session, principal: Principal, owner: Account, label: Label | None
) -> None:
    """A locked label's files may be changed only by the namespace's admins."""
    if label is None or not label.is_locked:
        return
    if not at_least(role_on(session, principal, owner), ADMIN):
        raise Forbidden(
            f"The label {label.name!r} of {owner.login} is locked.",
            f"Ask an admin of {owner.login} to unlock it (`anaconda label --unlock {label.name}`).",
        )


def can_see_groups(session: Session, principal: Principal, org: Account) -> bool:
    """Members of an organization, also those only in groups limited to some packages,
    see its groups and their members."""
    account = require_login(principal)
    if role_on(session, principal, org) is not None:
        return True
    if principal.org_id is not None and principal.org_id != org.id:
        return False
    membership = (
        select(GroupMember.group_id)
        .join(OrgGroup, OrgGroup.id == GroupMember.group_id)
        .where(OrgGroup.org_id == org.id, GroupMember.account_id == account.id)
    )
    return session.scalar(membership.limit(1)) is not None


def can_manage_org(session: Session, principal: Principal, org: Account) -> bool:
    """Would :func:`check_modify_groups` let the caller change the organization?"""
    return (
        org.kind == ORG
        and principal.has_scope("api:modify-group")
        and at_least(role_on(session, principal, org), ADMIN)
    )


def check_manage_tokens(principal: Principal) -> Account:
    """May the caller create, list or revoke its account's tokens? A password, a web
    session, or a token holding :data:`MANAGE_TOKENS`."""
    account = require_login(principal)
    if not principal.has_scope(MANAGE_TOKENS):
        raise Forbidden(
            f"This token may not create, list or revoke tokens: that needs the {MANAGE_TOKENS}"
            " scope.",
            "Log in with your password (`anaconda login`), or use a token with the"
            f" all or {MANAGE_TOKENS} scope.",
        )
    return account


def check_create_org(principal: Principal) -> Account:
    """Any signed-in user may create an organization (as on Anaconda.org), and becomes its
    owner; not a token made for another organization."""
    account = require_login(principal)
    if account.kind != USER or principal.org_id is not None or "all" not in principal.scopes:
        raise Forbidden(
            "Only a user signed in with their password may create an organization.",
            "Sign in to the web site as yourself, then try again.",
        )
    return account


def check_modify_groups(session: Session, principal: Principal, org: Account) -> None:
    """May the caller change an organization's groups, their members and packages?
    Someone who is not a member learns nothing of them: a 404, as for a missing group."""
    if not can_see_groups(session, principal, org):
        raise not_found(f"The groups of {org.login}")
    if not principal.has_scope("api:modify-group"):
        raise Forbidden(
            f"This token may not change the groups of {org.login}: it lacks api:modify-group.",
            "Create a token with `anaconda auth --create --scopes api:modify-group`.",
        )
    if not at_least(role_on(session, principal, org), ADMIN):
        raise Forbidden(
            f"Only admins of {org.login} may change its groups.",
            f"Ask a member of the {org.login} owners group.",
        )


def _check_write(
    principal: Principal, allowed: bool, what: str, needed: str = WRITE, action: str = ""
) -> None:
    """``needed`` is the permission ``allowed`` was decided on, named in the refusal."""
    require_login(principal)
    if not principal.has_scope("api:write"):
        raise Forbidden(
            f"This token may not change {what}: it lacks the api:write scope.",
            "Create a token with `anaconda auth --create --scopes api:write`.",
        )
    if not allowed:
        purpose = f" ({action} needs {needed})" if action else ""
        raise Forbidden(
            f"You have no {needed} access to {what}{purpose}.",
            f"Ask an owner of that namespace to add you to a group with {needed} permission.",
        )


def not_found(what: str) -> NotFound:
    return NotFound(
        f"{what} was not found.",
        "Check the spelling; a private package needs a token that grants access to it.",
    )


def is_superuser(principal: Principal) -> bool:
    """A superuser signed in with everything their account may do (not a narrowed token)."""
    account = principal.account
    return account is not None and account.is_superuser and "all" in principal.scopes


def check_superuser(principal: Principal) -> None:
    """The server's administration is NotFound to everyone else: it is not even there."""
    if not is_superuser(principal):
        raise not_found("This page")
