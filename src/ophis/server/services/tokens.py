"""API tokens: issued once, stored as a hash, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.security.tokens import generate_token, hash_token, looks_like_token
from ophis.server.db.models import Account, Token, utcnow
from ophis.server.errors import BadRequest, NotFound, Unauthorized
from ophis.server.services.authz import SCOPES, Principal

_BAD_TOKEN = (
    "The token is invalid, expired or revoked.",
    "Log in again with `anaconda login`, or create a new token with `anaconda auth --create`.",
)


def create_token(
    session: Session,
    account: Account,
    name: str,
    *,
    scopes: list[str] | None = None,
    max_age: int | None = None,
    org: Account | None = None,
    hostname: str = "",
    application: str = "",
    remote_addr: str = "",
    fail_if_exists: bool = False,
) -> tuple[Token, str]:
    """A new token and its secret (shown once). A live token of the same name is replaced,
    unless ``fail_if_exists`` (then a 400, as Anaconda.org answers)."""
    scopes = _checked_scopes(scopes)
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
        expires_at=utcnow() + timedelta(seconds=max_age) if max_age else None,
    )
    session.add(token)
    session.commit()
    return token, secret


def _checked_scopes(scopes: list[str] | None) -> list[str]:
    if not scopes:
        return ["all"]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise BadRequest(
            f"Unknown scopes: {', '.join(unknown)}.",
            f"Choose among: {', '.join(SCOPES)}.",
        )
    return list(dict.fromkeys(scopes))


def _live_token_named(
    session: Session, account: Account, org: Account | None, name: str
) -> Token | None:
    same_org = Token.org_id == org.id if org else Token.org_id.is_(None)
    tokens = session.scalars(
        select(Token).where(
            Token.account_id == account.id, same_org, Token.name == name, Token.revoked_at.is_(None)
        )
    )
    return next((token for token in tokens if is_live(token)), None)


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
    )


def is_live(token: Token, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def list_tokens(session: Session, account: Account) -> list[Token]:
    tokens = session.scalars(select(Token).where(Token.account_id == account.id).order_by(Token.id))
    return [t for t in tokens if is_live(t)]


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


def revoke_named(session: Session, account: Account, name: str, org: Account | None = None) -> None:
    token = _live_token_named(session, account, org, name)
    if token is None:
        raise NotFound(f"No token named {name!r}.", "List your tokens with `anaconda auth --list`.")
    token.revoked_at = utcnow()
    session.commit()


def revoke_id(session: Session, account: Account, token_id: int) -> Token:
    """Revoke one of ``account``'s live tokens by its id (the web site's revoke buttons)."""
    token = session.get(Token, token_id)
    if token is None or token.account_id != account.id or not is_live(token):
        raise NotFound("There is no such live token.", "Reload the tokens page.")
    revoke(session, token)
    return token
