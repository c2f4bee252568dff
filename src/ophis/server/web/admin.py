"""The server's administration page: superusers only, a 404 to everyone else. At
``/settings/admin`` rather than ``/admin``: ``admin`` is the first administrator's own
namespace, whose owner page is ``/admin``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ophis.server.deps import SessionDep
from ophis.server.services import admin
from ophis.server.web.caller import CallerDep
from ophis.server.web.pages import PageNumber
from ophis.server.web.rendering import render

router = APIRouter(prefix="/settings", include_in_schema=False)


@router.get("/admin")
def admin_page(
    request: Request, caller: CallerDep, session: SessionDep, page: PageNumber = 1
) -> Response:
    return render(
        request,
        caller,
        "admin.html",
        users=admin.users(session, caller.principal, page),
        storage=admin.storage(session, caller.principal),
        uploads=admin.recent_uploads(session, caller.principal),
    )
