"""Webhooks: an owner's HMAC-signed POSTs on upload, label change and removal.

Deliveries are an outbox: :func:`enqueue` adds their rows in the transaction of the change
they report, so a change is never reported without happening, nor happens unreported. The
sender (:class:`Sender`, a thread of each server process) claims due rows with a lease
committed before it sends, so that several workers never send one delivery twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from ophis.server import outbound
from ophis.server.background import PeriodicThread
from ophis.server.db.models import Account, File, Webhook, WebhookDelivery, utcnow
from ophis.server.errors import BadRequest
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.settings import ServerSettings

UPLOAD, LABEL, REMOVE = "upload", "label", "remove"
EVENTS = (UPLOAD, LABEL, REMOVE)
#: how long a claimed delivery is left to its sender (longer than the POST's timeout)
LEASE = timedelta(seconds=60)
TIMEOUT = 10.0
_BATCH = 20


# --- recording events --------------------------------------------------------------------


def enqueue(
    session: Session, owner_id: int, event: str, payload: dict[str, Any], package: str = ""
) -> None:
    """A delivery for every active hook of the owner that wants ``event`` (and ``package``);
    added to the caller's transaction, not committed."""
    hooks = session.scalars(
        select(Webhook).where(Webhook.owner_id == owner_id, Webhook.active.is_(True))
    )
    for hook in hooks:
        if event in hook.events and (not hook.package or hook.package.lower() == package.lower()):
            body = {"event": event, **payload}
            session.add(WebhookDelivery(webhook_id=hook.id, event=event, payload=body))


def file_event(session: Session, row: File, event: str, **extra: Any) -> None:
    """:func:`enqueue` for a change to one file (read before the file's row goes)."""
    package = row.release.package
    payload = {
        "owner": package.owner.login,
        "package": package.name,
        "version": row.release.version,
        "basename": row.basename,
        "sha256": row.sha256,
        "labels": sorted(label.name for label in row.labels),
        **extra,
    }
    enqueue(session, row.owner_id, event, payload, package.name)


# --- managing hooks ----------------------------------------------------------------------


@dataclass(frozen=True)
class HookView:
    hook: Webhook
    deliveries: list[WebhookDelivery]


def manageable_owners(session: Session, principal: Principal) -> list[Account]:
    """The caller and the organizations they administer."""
    user = authz.require_login(principal)
    orgs = accounts.orgs_of(session, user)
    admin = [
        org for org in orgs if authz.at_least(authz.role_on(session, principal, org), authz.ADMIN)
    ]
    return [user, *admin]


def list_hooks(session: Session, principal: Principal) -> list[HookView]:
    owners = [owner.id for owner in manageable_owners(session, principal)]
    hooks = session.scalars(
        select(Webhook).where(Webhook.owner_id.in_(owners)).order_by(Webhook.id)
    )
    return [HookView(hook, recent_deliveries(session, hook)) for hook in hooks]


def recent_deliveries(session: Session, hook: Webhook, limit: int = 20) -> list[WebhookDelivery]:
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def create_hook(
    session: Session,
    settings: ServerSettings,
    principal: Principal,
    owner_login: str,
    url: str,
    events: list[str],
    package: str = "",
    secret: str = "",
) -> Webhook:
    owner = accounts.get_account(session, owner_login)
    authz.check_admin_owner(session, principal, owner)
    _check_hook(url, events, settings)
    hook = Webhook(
        owner_id=owner.id,
        url=url,
        events=[event for event in EVENTS if event in events],
        package=package.strip() or None,
        secret=secret or secrets.token_urlsafe(32),
    )
    session.add(hook)
    session.commit()
    return hook


def _check_hook(url: str, events: list[str], settings: ServerSettings) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequest(f"{url!r} is not an http(s) URL.", "Give a URL such as https://host/hook.")
    if not events or not set(events) <= set(EVENTS):
        raise BadRequest("Choose the events to send.", f"Tick some of: {', '.join(EVENTS)}.")
    outbound.check_user_url(url, settings, "A webhook")


def _can_manage(session: Session, principal: Principal, hook: Webhook | None) -> bool:
    return hook is not None and authz.at_least(
        authz.role_on(session, principal, hook.owner), authz.ADMIN
    )


def _manageable_hook(session: Session, principal: Principal, hook_id: int) -> Webhook:
    hook = session.get(Webhook, hook_id)
    # the same answer as a missing hook for someone who may not manage it
    if hook is None or not _can_manage(session, principal, hook):
        raise authz.not_found(f"webhook {hook_id}")
    return hook


def update_hook(
    session: Session,
    settings: ServerSettings,
    principal: Principal,
    hook_id: int,
    url: str,
    events: list[str],
    package: str = "",
    active: bool = True,
) -> Webhook:
    """Change a hook's URL, events, package and whether it is on; its secret stays."""
    hook = _manageable_hook(session, principal, hook_id)
    _check_hook(url, events, settings)
    hook.url = url
    hook.events = [event for event in EVENTS if event in events]
    hook.package = package.strip() or None
    hook.active = active
    session.commit()
    return hook


def delete_hook(session: Session, principal: Principal, hook_id: int) -> None:
    session.delete(_manageable_hook(session, principal, hook_id))
    session.commit()


def redeliver(session: Session, principal: Principal, delivery_id: int) -> WebhookDelivery:
    """A new delivery of a past one's event and payload, left to the sender; the past one's
    log stays as it was."""
    past = session.get(WebhookDelivery, delivery_id)
    hook = session.get(Webhook, past.webhook_id) if past else None
    if past is None or hook is None or not _can_manage(session, principal, hook):
        raise authz.not_found(f"webhook delivery {delivery_id}")
    if not hook.active:
        raise BadRequest(
            f"The hook to {hook.url} is turned off, so nothing would be sent.",
            "Turn the hook on (edit it, tick Active), then redeliver.",
        )
    again = WebhookDelivery(webhook_id=hook.id, event=past.event, payload=dict(past.payload))
    session.add(again)
    session.commit()
    return again


# --- sending -----------------------------------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """GitHub's convention: ``sha256=`` and the hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def claim_due(session: Session) -> list[int]:
    """Take a lease on due deliveries; committed, so another worker skips them."""
    now = utcnow()
    # a hook turned off keeps its pending deliveries, sent once it is turned on again
    active = select(Webhook.id).where(Webhook.active.is_(True))
    due = (
        WebhookDelivery.next_attempt_at <= now,
        WebhookDelivery.claimed_until < now,
        WebhookDelivery.webhook_id.in_(active),
    )
    candidates = session.scalars(select(WebhookDelivery.id).where(*due).limit(_BATCH)).all()
    claimed = [
        delivery_id
        for delivery_id in candidates
        if session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, *due)
            .values(claimed_until=now + LEASE)
        ).rowcount
    ]
    session.commit()
    return claimed


def send(session: Session, settings: ServerSettings, delivery_id: int, http: httpx.Client) -> None:
    """One attempt at a claimed delivery, and its outcome recorded."""
    delivery = session.get(WebhookDelivery, delivery_id)
    hook = session.get(Webhook, delivery.webhook_id) if delivery else None
    if delivery is None or hook is None:
        return
    body = json.dumps(delivery.payload, sort_keys=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "ophis-webhook",
        "X-Ophis-Event": delivery.event,
        "X-Ophis-Delivery": str(delivery.id),
        "X-Ophis-Signature-256": signature(hook.secret, body),
    }
    try:
        status, error = http.post(hook.url, content=body, headers=headers).status_code, ""
    except httpx.HTTPError as failure:
        status, error = None, f"{type(failure).__name__}: {failure}"
    _record_attempt(delivery, settings, status, error)
    session.commit()


def _record_attempt(
    delivery: WebhookDelivery, settings: ServerSettings, status: int | None, error: str
) -> None:
    now = utcnow()
    delivery.attempts += 1
    delivery.status_code, delivery.error = status, error
    delivery.claimed_until = now
    if status is not None and 200 <= status < 300:
        delivery.delivered_at, delivery.next_attempt_at = now, None
    elif delivery.attempts >= settings.webhook_max_attempts:
        delivery.next_attempt_at = None  # given up; the log shows why
    else:
        wait = settings.webhook_backoff_seconds * 2**delivery.attempts
        delivery.next_attempt_at = now + timedelta(seconds=wait)


def send_due(sessions: sessionmaker[Session], settings: ServerSettings) -> int:
    """Claim and send what is due; returns how many attempts were made."""
    with sessions() as session:
        claimed = claim_due(session)
        if not claimed:  # an HTTP client (its TLS context) costs a busy server's time
            return 0
        # each connection checked: a hook's host may resolve elsewhere since it was declared
        with httpx.Client(timeout=TIMEOUT, transport=outbound.transport(settings)()) as http:
            for delivery_id in claimed:
                send(session, settings, delivery_id, http)
    return len(claimed)


def sender(sessions: sessionmaker[Session], settings: ServerSettings) -> PeriodicThread:
    """The background thread of one server process that sends due deliveries."""
    return PeriodicThread(
        "ophis-webhooks",
        settings.webhook_poll_seconds,
        lambda: send_due(sessions, settings),
        stop_timeout=TIMEOUT + 5,
    )
