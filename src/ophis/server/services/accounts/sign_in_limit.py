"""The one limit on password guessing. Every check of a password someone types (the web
site's sign-in form, Basic auth on ``POST /api/authentications``, the current password on
the password form) goes through :func:`check_password`.

Failures are counted per (login, client address) within ``settings.sign_in_window``
seconds; at ``settings.sign_in_attempts`` even the right password is refused (429 with
``Retry-After``) until the oldest counted failure leaves the window: otherwise the limit
would only slow guessing down, not stop it. Others signing in to the same account from
elsewhere are not locked out. An address with ``settings.sign_in_address_attempts``
failures across all logins (one password tried on many accounts) is refused for every
login the same way. The counts live in the database, so the limit holds across
``--workers`` processes and restarts. The client address is the socket's peer, or what a
configured proxy says (:mod:`ophis.server.proxies`): no request can choose its own.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ophis.server.db.models import Account, SignInFailure, utcnow
from ophis.server.errors import TooManyRequests, Unauthorized
from ophis.server.services.accounts import accounts
from ophis.server.settings import ServerSettings


class SignInLimited(TooManyRequests):
    """Too many failed sign-ins for one login from one address, or from one address."""

    def __init__(self, message: str, retry_after: int) -> None:
        minutes = math.ceil(retry_after / 60)
        super().__init__(
            message,
            f"Wait {minutes} minute{'s' if minutes > 1 else ''} before trying again, or ask an"
            " administrator to reset the password.",
        )
        self.headers = {"Retry-After": str(retry_after)}


def check_password(
    session: Session, settings: ServerSettings, login: str, password: str, client: str
) -> Account:
    """The account of ``login`` when ``password`` is its password and the limit is not
    reached; Unauthorized (counted) or :class:`SignInLimited` otherwise."""
    login = login.strip()
    key, address = accounts.login_key(login)[:80], client[:64]
    _check_limit(session, settings, key, address)
    try:
        account = accounts.authenticate(session, login, password)
    except Unauthorized:
        session.add(SignInFailure(login_key=key, remote_addr=address))
        session.commit()
        raise
    session.execute(
        delete(SignInFailure).where(
            SignInFailure.login_key == key, SignInFailure.remote_addr == address
        )
    )
    session.commit()
    return account


def _check_limit(session: Session, settings: ServerSettings, key: str, address: str) -> None:
    now = utcnow()
    since = now - timedelta(seconds=settings.sign_in_window)
    session.execute(delete(SignInFailure).where(SignInFailure.failed_at < since))
    session.commit()
    from_address = SignInFailure.remote_addr == address
    for who, limit, message in (
        (
            (SignInFailure.login_key == key, from_address),
            settings.sign_in_attempts,
            "Too many failed sign-ins for this account from your address.",
        ),
        # one address trying a password on many accounts (spraying)
        (
            (from_address,),
            settings.sign_in_address_attempts,
            "Too many failed sign-ins from your address.",
        ),
    ):
        failures, oldest = session.execute(
            select(func.count(), func.min(SignInFailure.failed_at)).where(*who)
        ).one()
        if limit and failures >= limit and oldest is not None:
            free_at = oldest + timedelta(seconds=settings.sign_in_window)
            retry_after = max(1, math.ceil((free_at - now).total_seconds()))
            raise SignInLimited(message, retry_after)
