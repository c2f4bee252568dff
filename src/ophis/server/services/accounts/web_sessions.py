"""Signing in to the web site: accounts made by sign-up, server-side sessions, the CSRF
tokens of their forms, and password changes (the limit on failed sign-ins is
:mod:`ophis.server.services.accounts.sign_in_limit`'s).

A session cookie carries a random secret; the ``web_sessions`` row keeps only its SHA-256,
with the account, the expiry and the session's CSRF token. A signed-in browser acts as its
account with every scope (:data:`ophis.server.services.accounts.authz.ALL`), as a password
login does.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ophis.security.tokens import hash_token
from ophis.server.db.models import Account, WebSession, utcnow
from ophis.server.errors import BadRequest, Forbidden, Unauthorized
from ophis.server.services.accounts import accounts, sign_in_limit, tokens
from ophis.server.services.accounts.authz import Principal, password_principal
from ophis.server.settings import ServerSettings


class FormExpired(Forbidden):
    """A form posted without its CSRF token, or with another session's."""

    def __init__(self) -> None:
        super().__init__(
            "The form expired or came from another site; reload and try again.",
            "Reload the page, then send the form again.",
        )


@dataclass(frozen=True)
class SignedIn:
    row: WebSession
    #: what the cookie carries (shown once, like a token)
    secret: str


def principal_of(row: WebSession | None) -> Principal:
    return password_principal(row.account) if row else Principal()


def sign_up(
    session: Session,
    settings: ServerSettings,
    login: str,
    password: str,
    confirm: str,
    *,
    email: str = "",
    name: str = "",
) -> Account:
    if not settings.allow_signup:
        raise Forbidden(
            "Sign-up is turned off on this server.",
            "Ask an administrator for an account (`ophis server user create`).",
        )
    if password != confirm:
        raise BadRequest("The two passwords differ.", "Type the same password twice.")
    return accounts.create_user(session, login.strip(), password, email=email, name=name)


def sign_in(
    session: Session, settings: ServerSettings, login: str, password: str, client: str
) -> SignedIn:
    """A new session for a login and password, within the sign-in limit."""
    account = sign_in_limit.check_password(session, settings, login, password, client)
    return start_session(session, settings, account)


def start_session(session: Session, settings: ServerSettings, account: Account) -> SignedIn:
    """Always a new session (a fresh secret after every sign-in defeats session fixation);
    expired sessions of everyone are swept out on the way."""
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        id=hash_token(secret),
        account_id=account.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=settings.session_seconds),
    )
    row.account = account
    session.add(row)
    session.commit()
    return SignedIn(row, secret)


def find_session(session: Session, secret: str) -> WebSession | None:
    """The live session a cookie stands for; None when it is unknown, expired or its
    account disabled (the browser is then simply signed out)."""
    row = session.get(WebSession, hash_token(secret))
    if row is None or row.expires_at <= utcnow() or row.account.is_disabled:
        return None
    return row


def end_session(session: Session, row: WebSession) -> None:
    session.delete(row)
    session.commit()


@dataclass(frozen=True)
class PasswordChange:
    current: str
    new: str
    confirm: str
    #: revoke the account's API tokens too (whoever knew the old password may have made some)
    revoke_tokens: bool


def change_password(
    session: Session,
    settings: ServerSettings,
    row: WebSession,
    change: PasswordChange,
    client: str,
) -> int:
    """A new password, given the current one (a check within the sign-in limit); every
    other session of the account ends, and its tokens too when asked. How many tokens
    were revoked."""
    account = row.account
    try:
        sign_in_limit.check_password(session, settings, account.login, change.current, client)
    except Unauthorized:
        raise BadRequest("The current password is wrong.", "Type your current password.") from None
    if change.new != change.confirm:
        raise BadRequest("The two new passwords differ.", "Type the same new password twice.")
    return password_changed(session, account, change.new, change.revoke_tokens, keep=row)


def password_changed(
    session: Session,
    account: Account,
    new: str,
    revoke_tokens: bool,
    keep: WebSession | None = None,
) -> int:
    """Set ``account``'s password, end its web sessions but ``keep``, and revoke its tokens
    when asked: every way the password changes (its owner, an admin's page, the admin
    CLI) ends here. How many tokens were revoked."""
    accounts.set_password(session, account, new)
    end_sessions(session, account, keep=keep)
    return tokens.revoke_all(session, account) if revoke_tokens else 0


def end_sessions(session: Session, account: Account, keep: WebSession | None = None) -> None:
    """Sign the account out of every browser (but ``keep``'s)."""
    query = delete(WebSession).where(WebSession.account_id == account.id)
    if keep is not None:
        query = query.where(WebSession.id != keep.id)
    session.execute(query)
    session.commit()


def update_profile(session: Session, account: Account, name: str, email: str) -> None:
    email = email.strip()
    if email and ("@" not in email or len(email) > 320):
        raise BadRequest(f"{email!r} is not an email address.", "Give an address like a@b.org.")
    account.name = name.strip()[:200]
    account.email = email
    session.commit()


def check_csrf(expected: str | None, sent: str | None) -> None:
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise FormExpired()
