"""Channel notices (conda's CEP 7): messages an owner posts to the users of their channel.

conda fetches ``<channel>/notices.json`` (``conda notices``, and at the start of ``conda
install``) and shows each notice once per ``interval``, remembering the ids it showed; the
web site shows the same notices as a banner on the owner's pages. A notice is for every
label of the channel, or for one. Expired notices are neither served nor shown. In a private
channel, only those who may read it see its notices.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ophis.server.db.models import NOTICE_LEVELS, Account, ChannelNotice, Label, utcnow
from ophis.server.errors import BadRequest, NotFound
from ophis.server.services.accounts import accounts, authz
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import labels
from ophis.server.services.catalog.files import MAIN

#: a notice is a few lines in a terminal, not a document
MAX_MESSAGE = 2000
#: ``conda:download`` for channel clients, ``api:read`` for the web site
CONDA_SCOPE = "conda:download"
WEB_SCOPE = "api:read"


@dataclass(frozen=True)
class NoticeForm:
    """A notice as the settings page posts it (already parsed, not yet checked)."""

    message: str
    level: str = "info"
    label: str | None = None
    expired_at: datetime | None = None
    #: seconds between two showings by conda; None lets conda decide
    interval: int | None = None


def post_notice(
    session: Session, principal: Principal, owner_login: str, form: NoticeForm
) -> ChannelNotice:
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    _check(form)
    notice = ChannelNotice(
        id=str(uuid.uuid4()),
        owner_id=owner.id,
        label=form.label or None,
        message=form.message.strip(),
        level=form.level,
        interval=form.interval,
        created_at=utcnow(),
        expired_at=form.expired_at,
    )
    session.add(notice)
    session.commit()
    return notice


def _check(form: NoticeForm) -> None:
    message = form.message.strip()
    if not message or len(message) > MAX_MESSAGE:
        raise BadRequest(
            f"A notice needs a message of 1 to {MAX_MESSAGE} characters.",
            "Write what the channel's users should know.",
        )
    if form.level not in NOTICE_LEVELS:
        raise BadRequest(
            f"{form.level!r} is not a notice level.", f"Choose among: {', '.join(NOTICE_LEVELS)}."
        )
    if form.label:
        labels.check_label_name(form.label)
    if form.expired_at is not None and form.expired_at <= utcnow():
        raise BadRequest(
            "The notice would expire before it is posted.",
            "Choose an expiry in the future, or none.",
        )
    if form.interval is not None and form.interval < 1:
        raise BadRequest("The interval must be at least 1 second.", "Or leave it empty.")


def remove_notice(session: Session, principal: Principal, owner_login: str, notice_id: str) -> None:
    owner = accounts.get_account(session, owner_login)
    authz.check_manage_channel(session, principal, owner)
    notice = session.get(ChannelNotice, notice_id)
    if notice is None or notice.owner_id != owner.id:
        raise NotFound(
            f"{owner.login} has no notice {notice_id!r}.",
            "Reload the channel settings page to see the current notices.",
        )
    session.delete(notice)
    session.commit()


def all_notices(session: Session, principal: Principal, owner: Account) -> list[ChannelNotice]:
    """Every notice of the owner, expired ones included, newest first (the settings page)."""
    authz.check_manage_channel(session, principal, owner)
    query = select(ChannelNotice).where(ChannelNotice.owner_id == owner.id)
    return list(session.scalars(query.order_by(ChannelNotice.created_at.desc())))


def active_notices(
    session: Session, principal: Principal, owner: Account, label: str | None, scope: str
) -> list[ChannelNotice]:
    """The unexpired notices of the channel (``label`` None: of any label), newest first;
    none to a caller who may not read a private channel."""
    if not authz.can_read_channel(session, principal, owner, scope):
        return []
    return _active(session, principal, owner, label, scope)


def _active(
    session: Session, principal: Principal, owner: Account, label: str | None, scope: str
) -> list[ChannelNotice]:
    """The unexpired notices for the whole channel or for ``label`` (None: any label);
    those of a label the caller may not know of are left out, as that label is."""
    query = select(ChannelNotice).where(
        ChannelNotice.owner_id == owner.id,
        or_(ChannelNotice.expired_at.is_(None), ChannelNotice.expired_at > utcnow()),
    )
    if label is not None:
        query = query.where(or_(ChannelNotice.label.is_(None), ChannelNotice.label == label))
    visible = labels.visible_labels(session, principal, owner, scope).with_only_columns(Label.name)
    query = query.where(or_(ChannelNotice.label.is_(None), ChannelNotice.label.in_(visible)))
    return list(session.scalars(query.order_by(ChannelNotice.created_at.desc())))


def notices_document(
    session: Session, principal: Principal, owner_login: str, label: str = MAIN
) -> dict[str, Any]:
    """``notices.json`` of a channel, in conda's shape. A private channel is NotFound to
    those who may not read it, worded as for a channel that does not exist."""
    owner = accounts.find_account(session, owner_login)
    if owner is None or owner.is_disabled:
        raise _no_channel(owner_login)
    if not authz.can_read_channel(session, principal, owner, CONDA_SCOPE):
        raise _no_channel(owner_login)
    active = _active(session, principal, owner, label, CONDA_SCOPE)
    return {"notices": [_as_conda(notice) for notice in active]}


def _no_channel(login: str) -> NotFound:
    return NotFound(f"There is no channel named {login!r}.", "Check the owner's name in the URL.")


def _as_conda(notice: ChannelNotice) -> dict[str, Any]:
    # conda parses the times with datetime.fromisoformat, which before Python 3.11 does not
    # read a trailing "Z": an explicit +00:00 offset works everywhere
    entry: dict[str, Any] = {
        "id": notice.id,
        "message": notice.message,
        "level": notice.level,
        "created_at": _iso(notice.created_at),
    }
    if notice.expired_at is not None:
        entry["expired_at"] = _iso(notice.expired_at)
    if notice.interval is not None:
        entry["interval"] = notice.interval
    return entry


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
