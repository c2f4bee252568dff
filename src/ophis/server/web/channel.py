"""``/settings/channel``: an owner's channel as a whole -- private or public, and the notices
conda shows its users -- for the signed-in user and the organizations they administer
(``?owner=acme``)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from ophis.core.errors import OphisError
from ophis.server.db.models import NOTICE_LEVELS
from ophis.server.deps import SessionDep
from ophis.server.errors import BadRequest
from ophis.server.services.channels import channel_settings, notices
from ophis.server.services.trust import channel_policy
from ophis.server.web.caller import Field, SignedInDep, SignedInFormDep, WebCaller
from ophis.server.web.rendering import error_status, redirect, render

router = APIRouter(prefix="/settings/channel", include_in_schema=False)


@router.get("")
def channel_page(
    request: Request, caller: SignedInDep, session: SessionDep, owner: str = ""
) -> Response:
    return _page(request, caller, session, owner)


@router.post("/visibility")
def set_visibility(
    request: Request, caller: SignedInFormDep, session: SessionDep, owner: Field, private: Field
) -> Response:
    changed = channel_settings.set_private_channel(
        session, caller.principal, owner, private == "true"
    )
    return redirect(request, _url(changed.login))


@router.post("/notices")
def post_notice(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    owner: Field,
    message: Field,
    level: Field = "info",
    label: Field = "",
    expires: Field = "",
    interval_hours: Field = "",
) -> Response:
    try:
        form = notices.NoticeForm(
            message=message,
            level=level,
            label=label.strip() or None,
            expired_at=_moment(expires),
            interval=_hours(interval_hours),
        )
        notices.post_notice(session, caller.principal, owner, form)
    except OphisError as error:
        status = error_status(error)
        return _page(request, caller, session, owner, status=status, error=error)
    return redirect(request, _url(owner))


@router.post("/notices/{notice_id}/delete")
def delete_notice(
    request: Request, notice_id: str, caller: SignedInFormDep, session: SessionDep, owner: Field
) -> Response:
    notices.remove_notice(session, caller.principal, owner, notice_id)
    return redirect(request, _url(owner))


def _page(
    request: Request,
    caller: WebCaller,
    session: SessionDep,
    owner: str,
    *,
    status: int = 200,
    **context: object,
) -> Response:
    settings = channel_settings.channel_settings(session, caller.principal, owner)
    return render(
        request,
        caller,
        "channel.html",
        status=status,
        settings=settings,
        levels=NOTICE_LEVELS,
        now=datetime.now(UTC),
        policies=channel_policy.policies_of(session, settings.owner.id),
        **context,
    )


def _url(owner: str) -> str:
    return f"/settings/channel?owner={quote(owner)}"


def _moment(value: str) -> datetime | None:
    """A date or a date and time from the form (``datetime-local``), read as UTC."""
    value = value.strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            f"{value!r} is not a date.", "Give the expiry as YYYY-MM-DD or YYYY-MM-DDTHH:MM (UTC)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _hours(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(
            f"The interval must be a whole number of hours, not {value!r}.", "Or leave it empty."
        )
    return int(value) * 3600
