"""API tokens: issued once, stored as a hash, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.security.tokens import generate_token, hash_token, looks_like_token
from ophis.server.db.models import Account, Token, utcnow
from ophis.server.errors import BadRequest, Forbidden, NotFound, Unauthorized
from ophis.server.services.accounts.authz import (
    ADMIN,
    SCOPES,
    Principal,
    at_least,
    check_manage_tokens,
    role_on,
)

_BAD_TOKEN = (
    "The token is invalid, expired or revoked.",
    "Log in again with `anaconda login`, or create a new token with `anaconda auth --create`.",
)


#: the longest lifetime a token may be given (``max-age``), seconds: ten years
MAX_AGE = 10 * 365 * 86400


def create_token(
    session: Session,
    principal: Principal,
    name: str,
    *,
    scopes: list[str] | None = None,
    max_age: int | None = None,
    org: Account | None = None,
    deployment_id: int | None = None,
    hostname: str = "",
    application: str = "",
    remote_addr: str = "",
    fail_if_exists: bool = False,
) -> tuple[Token, str]:
    """A new token of the caller's account and its secret (shown once), never broader than
    the caller's credential: its scopes are among the caller's (the caller's own when none
    are asked for), it expires no later, and it stays bound to the caller's organization
    and deployment. Only a caller that may manage tokens makes one. A live token of the same
    name is replaced, unless ``fail_if_exists`` (then a 400, as Anaconda.org answers)."""
    account = check_manage_tokens(principal)
    scopes = _scopes_within(principal, scopes)
    expires_at = _expiry_within(principal, max_age)
    org = _org_within(session, principal, org)
    if principal.deployment_id is not None:
        if deployment_id not in (None, principal.deployment_id):
            raise Forbidden(
                "A deployment token may not create a token for another deployment.",
                "Create it with your password or an all-scope token.",
            )
        deployment_id = principal.deployment_id
    existing = _live_token_named(session, account, org, name)
    if existing is not None:
        if fail_if_exists:
            raise BadRequest(
                f"A token named {name!r} already exists.",
                "Remove it with `anaconda auth --remove NAME`, or choose another name.",
            )
        existing.revoked_at = utcnow()
    secret = generate_token()
    token = Token(
        account_id=account.id,
        org_id=org.id if org else None,
        name=name,
        token_hash=hash_token(secret),
        scopes=scopes,
        hostname=hostname,
        application=application,
        remote_addr=remote_addr,
        expires_at=expires_at,
        deployment_id=deployment_id,
    )
    session.add(token)
    session.commit()
    return token, secret


def _scopes_within(principal: Principal, scopes: list[str] | None) -> list[str]:
    if not scopes:
        return sorted(principal.scopes)
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise BadRequest(
            f"Unknown scopes: {', '.join(unknown)}.",
            f"Choose among: {', '.join(SCOPES)}.",
        )
    broader = [scope for scope in dict.fromkeys(scopes) if not principal.has_scope(scope)]
    if broader:
        raise Forbidden(
            f"This credential may not create a token with {', '.join(broader)}: it holds"
            f" only {', '.join(sorted(principal.scopes))}.",
            "Ask for scopes this token has, or log in with your password (`anaconda login`).",
        )
    return list(dict.fromkeys(scopes))


def _expiry_within(principal: Principal, max_age: int | None) -> datetime | None:
    """When the new token expires: after ``max_age`` seconds (1 to :data:`MAX_AGE`), and
    never after the caller's own token (whose expiry it inherits when none is asked)."""
    if max_age is None:
        return principal.expires_at
    if not 1 <= max_age <= MAX_AGE:
        raise BadRequest(
            f"max-age {max_age} is out of range.",
            f"Give a lifetime from 1 to {MAX_AGE} seconds (10 years), or none.",
        )
    now = utcnow()
    expires_at = now + timedelta(seconds=max_age)
    limit = principal.expires_at
    if limit is not None and expires_at > limit:
        raise Forbidden(
            f"This token expires at {limit:%Y-%m-%d %H:%M:%S} UTC: a token it creates may not"
            " outlive it.",
            f"Ask for max-age {max(0, int((limit - now).total_seconds()))} or less, or log in"
            " with your password.",
        )
    return expires_at


def _org_within(session: Session, principal: Principal, org: Account | None) -> Account | None:
    """The organization the new token acts for: the caller's own binding (inherited), or
    one the caller administers."""
    if principal.org_id is not None:
        if org is not None and org.id != principal.org_id:
            raise Forbidden(
                f"This token acts for one organization only: it may not create a token for"
                f" {org.login}.",
                "Create that token with your password (`anaconda auth --create -o ORG`).",
            )
        org = session.get(Account, principal.org_id)
    if org is not None and not at_least(role_on(session, principal, org), ADMIN):
        raise Forbidden(
            f"Only admins of {org.login} may create its tokens.",
            f"Ask a member of the {org.login} owners group.",
        )
    return org


def _live_token_named(
    session: Session, account: Account, org: Account | None, name: str
) -> Token | None:
    return next((t for t in _tokens_named(session, account, org, name) if is_live(t)), None)


def _tokens_named(
    session: Session, account: Account, org: Account | None, name: str
) -> list[Token]:
    """The account's tokens named ``name`` not revoked (live or expired)."""
    same_org = Token.org_id == org.id if org else Token.org_id.is_(None)
    return list(
        session.scalars(
            select(Token).where(
                Token.account_id == account.id,
                same_org,
                Token.name == name,
                Token.revoked_at.is_(None),
            )
        )
    )


def principal_for(session: Session, secret: str) -> Principal:
    """The caller a token stands for; Unauthorized when it is unknown, expired or revoked."""
    if not looks_like_token(secret):
        raise Unauthorized(*_BAD_TOKEN)
    token = session.scalar(select(Token).where(Token.token_hash == hash_token(secret)))
    if token is None or not is_live(token) or token.account.is_disabled:
        raise Unauthorized(*_BAD_TOKEN)
    return Principal(
        account=token.account,
        scopes=frozenset(token.scopes or ["all"]),
        org_id=token.org_id,
        token_id=token.id,
        deployment_id=token.deployment_id,
        expires_at=token.expires_at,
    )


def is_live(token: Token, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def list_tokens(session: Session, principal: Principal) -> list[Token]:
    """The caller's tokens not revoked, the expired ones too (until removed, so that they
    can be seen and removed by name); a token made for an organization sees that one's
    only."""
    account = check_manage_tokens(principal)
    query = (
        select(Token)
        .where(Token.account_id == account.id, Token.revoked_at.is_(None))
        .order_by(Token.id)
    )
    if principal.org_id is not None:
        query = query.where(Token.org_id == principal.org_id)
    return list(session.scalars(query))


def current_token(session: Session, principal: Principal) -> Token:
    """The token the caller authenticated with (a password login has none)."""
    token = session.get(Token, principal.token_id) if principal.token_id else None
    if token is None:
        raise Unauthorized(
            "This request needs a token.", "Log in with `anaconda login` to get one."
        )
    return token


def revoke(session: Session, token: Token) -> None:
    token.revoked_at = utcnow()
    session.commit()


def revoke_named(
    session: Session, principal: Principal, name: str, org: Account | None = None
) -> None:
    """Remove the caller's tokens named ``name``, live or expired (``anaconda auth
    --remove``)."""
    account = check_manage_tokens(principal)
    named = _tokens_named(session, account, org, name)
    found = [token for token in named if _within_binding(principal, token)]
    if not found:
        raise NotFound(f"No token named {name!r}.", "List your tokens with `anaconda auth --list`.")
    for token in found:
        token.revoked_at = utcnow()
    session.commit()


def revoke_id(session: Session, principal: Principal, token_id: int) -> Token:
    """Revoke one of the caller's tokens (live or expired) by its id (the web site's revoke
    buttons)."""
    account = check_manage_tokens(principal)
    token = session.get(Token, token_id)
    if (
        token is None
        or token.account_id != account.id
        or token.revoked_at is not None
        or not _within_binding(principal, token)
    ):
        raise NotFound("There is no such token.", "Reload the tokens page.")
    revoke(session, token)
    return token


def revoke_all(session: Session, account: Account) -> int:
    """Revoke every live token of ``account`` (after its password changed); how many."""
    owned = session.scalars(select(Token).where(Token.account_id == account.id))
    live = [token for token in owned if is_live(token)]
    for token in live:
        token.revoked_at = utcnow()
    session.commit()
    return len(live)


def _within_binding(principal: Principal, token: Token) -> bool:
    return principal.org_id is None or token.org_id == principal.org_id
