"""Who a browser is on the user-content origin, where deployments and notebooks are served.

The site's session cookie is never read there: the user-content origin may share the
site's host name (cookies ignore ports), and what is served there is other people's code.
Instead the site hands a signed-in visitor over to one app, as JupyterHub hands a user to a
single-user server: it issues a **ticket** (random, one use, valid for
:data:`TICKET_SECONDS`, bound to the account and the app), the browser carries it to the
user-content origin, which redeems it for an **app session** whose cookie is scoped to
that app's path. A ticket redeemed twice, late, or for another app opens nothing.

An app is named by its *target*: ``deployments/<owner>/<name>`` or ``notebooks/<login>``.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ophis.security.tokens import hash_token
from ophis.server.db.models import Account, Deployment, UserContentSession, utcnow
from ophis.server.errors import BadRequest, Unauthorized

TICKET, SESSION = "ticket", "session"
TICKET_SECONDS = 60
#: the CSP sandbox keywords an owner may give a deployment: never ``allow-same-origin``,
#: which would let its script act in the user-content origin with every visitor's app
#: sessions (another private deployment's, a notebook server's); only the administrator
#: may allow that, for all deployments (``user_content_sandbox``, or "off")
SANDBOX_KEYWORDS = frozenset(
    {
        "allow-downloads",
        "allow-forms",
        "allow-modals",
        "allow-orientation-lock",
        "allow-pointer-lock",
        "allow-popups",
        "allow-popups-to-escape-sandbox",
        "allow-presentation",
        "allow-scripts",
        "allow-top-navigation-by-user-activation",
    }
)
#: the administrator's ``user_content_sandbox`` value that serves deployments unsandboxed
SANDBOX_OFF = "off"


def deployment_target(owner: str, name: str) -> str:
    return f"deployments/{owner.lower()}/{name}"


def notebook_target(login: str) -> str:
    return f"notebooks/{login.lower()}"


def issue_ticket(session: Session, account: Account, target: str) -> str:
    """A one-time ticket that opens ``target`` as ``account``; expired rows go on the way."""
    now = utcnow()
    session.execute(delete(UserContentSession).where(UserContentSession.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=TICKET_SECONDS)
    session.add(_row(secret, account, target, TICKET, expires))
    session.commit()
    return secret


def redeem_ticket(session: Session, ticket: str, lifetime: int) -> tuple[str, str]:
    """The app session a ticket stands for: (its target, the new session's secret). The
    ticket is gone afterwards, whether it was good or not."""
    row = session.get(UserContentSession, hash_token(ticket))
    if row is not None:
        session.delete(row)
        session.commit()
    if row is None or row.kind != TICKET or row.expires_at <= utcnow():
        raise Unauthorized(
            "This sign-in link was used already or has expired.",
            "Open the app again from the site's address.",
        )
    secret = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(seconds=lifetime)
    session.add(_row(secret, row.account, row.target, SESSION, expires))
    session.commit()
    return row.target, secret


def account_for(session: Session, secret: str, target: str) -> Account | None:
    """The account an app session cookie signs in to ``target`` (None: no one)."""
    row = session.get(UserContentSession, hash_token(secret))
    if row is None or row.kind != SESSION or row.target != target:
        return None
    if row.expires_at <= utcnow() or row.account.is_disabled:
        return None
    return row.account


def _row(
    secret: str, account: Account, target: str, kind: str, expires: object
) -> UserContentSession:
    return UserContentSession(
        id=hash_token(secret),
        account_id=account.id,
        account=account,
        target=target,
        kind=kind,
        expires_at=expires,
    )


def check_sandbox(value: str) -> str:
    """A deployment's sandbox as given by its owner, normalized; refused when it names
    what a CSP sandbox does not know or an owner may not choose."""
    words = value.split()
    refused = sorted(set(words) - SANDBOX_KEYWORDS)
    if refused:
        raise BadRequest(
            f"The sandbox keyword(s) {', '.join(refused)} may not be set by a deployment's "
            "owner (allow-same-origin would give its script every visitor's sessions of "
            "the user-content origin).",
            f"Use some of {', '.join(sorted(SANDBOX_KEYWORDS))}.",
        )
    return " ".join(sorted(set(words)))


def set_sandbox(session: Session, deployment: Deployment, value: str) -> None:
    """The CSP sandbox of one deployment's pages, instead of the server's default."""
    deployment.sandbox = check_sandbox(value)
    session.commit()
