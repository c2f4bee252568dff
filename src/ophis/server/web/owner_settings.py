"""Settings pages about one owner the signed-in user administers (``?owner=acme``, their own
namespace by default): the labels and mirrors pages list that owner's rows, apply one change
per form, and show a refused change's error on the page or go back to the list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from ophis.core.errors import OphisError
from ophis.server.services.accounts.authz import Principal, require_login
from ophis.server.services.events import webhooks
from ophis.server.web.caller import WebCaller
from ophis.server.web.rendering import error_status, redirect, render


@dataclass(frozen=True)
class OwnerSettingsPage:
    path: str
    template: str
    #: the rows the page lists: (session, principal, owner's login) -> rows
    rows: Callable[[Session, Principal, str], object]

    def render(
        self,
        request: Request,
        caller: WebCaller,
        session: Session,
        owner: str,
        *,
        status: int = 200,
        **context: object,
    ) -> Response:
        login = owner or require_login(caller.principal).login
        return render(
            request,
            caller,
            self.template,
            status=status,
            owner_login=login,
            owners=webhooks.manageable_owners(session, caller.principal),
            rows=self.rows(session, caller.principal, login),
            **context,
        )

    def apply(
        self,
        request: Request,
        caller: WebCaller,
        session: Session,
        owner: str,
        change: Callable[[], object],
    ) -> Response:
        """Run one change; its error shows on the page, success goes back to the list."""
        try:
            change()
        except OphisError as error:
            session.rollback()
            return self.render(
                request, caller, session, owner, status=error_status(error), error=error
            )
        return redirect(request, f"{self.path}?owner={quote(owner)}")
