"""``/notebooks``: start and stop your JupyterLab; ``/notebooks/<login>/...``: the way in.

JupyterLab is served on the user-content origin (:mod:`ophis.server.web.user_content`),
never on the site's: the site hands its owner's browser over with a one-time ticket, and
refuses every other signed-in user (403; no session: sign in).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from ophis.server.deps import SessionDep
from ophis.server.errors import Forbidden, NotFound
from ophis.server.services.hosting import notebooks, user_content
from ophis.server.settings import ServerSettings
from ophis.server.web.caller import SignedInDep, SignedInFormDep
from ophis.server.web.rendering import redirect, render
from ophis.server.web.reverse_proxy import METHODS
from ophis.server.web.user_content import hand_over, moved

router = APIRouter(prefix="/notebooks", include_in_schema=False)


def _settings(request: Request) -> ServerSettings:
    settings: ServerSettings = request.app.state.context.settings
    if not settings.notebooks_enabled:
        raise NotFound("Notebooks are turned off on this server.", "Ask its administrator.")
    return settings


@router.get("")
def notebooks_page(request: Request, caller: SignedInDep) -> Response:
    """Also when notebooks cannot start here: the page says why."""
    settings: ServerSettings = request.app.state.context.settings
    login = caller.account.login  # type: ignore[union-attr]
    problem = notebooks.cannot_start(settings)
    return render(
        request,
        caller,
        "notebooks.html",
        server=None if problem else notebooks.running(settings, login),
        environments=notebooks.environments(settings, login),
        problem=problem,
        settings=settings,
    )


@router.post("/start")
def start_notebook(
    request: Request,
    caller: SignedInFormDep,
    session: SessionDep,
    environment: Annotated[str, Form()] = notebooks.DEFAULT_ENVIRONMENT,
) -> Response:
    login = caller.account.login.lower()  # type: ignore[union-attr]
    notebooks.start(_settings(request), login, environment)
    target = user_content.notebook_target(login)
    return hand_over(request, session, caller.account, target, "lab")  # type: ignore[arg-type]


@router.post("/stop")
def stop_notebook(request: Request, caller: SignedInFormDep) -> Response:
    notebooks.stop(_settings(request), caller.account.login)  # type: ignore[union-attr]
    return redirect(request, "/notebooks")


# --- the way in ---------------------------------------------------------------------------


@router.api_route("/{login}/{path:path}", methods=METHODS)
def enter_notebook(
    request: Request, login: str, path: str, caller: SignedInDep, session: SessionDep
) -> Response:
    """The owner's browser is handed over to the user-content origin with a ticket."""
    _settings(request)
    account = caller.account
    if account is None or account.login_key != login.lower():
        raise Forbidden(
            "This notebook server belongs to another user.",
            "Open your own notebooks at /notebooks.",
        )
    if request.method not in ("GET", "HEAD"):
        return moved(request)
    return hand_over(request, session, account, user_content.notebook_target(login), path)
