"""``/deployments/<owner>/<name>/...`` on the site: the way into a deployment, which is
served on the user-content origin (:mod:`ophis.server.web.user_content`), never here.

A signed-in browser that may call a private deployment is handed over with a one-time
ticket; one that is not signed in is sent to sign in first. Everyone else -- a public
deployment's visitors, API callers with a token -- is redirected (307: method and body
kept) to the same path on the user-content origin, which decides who may call it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ophis.server.deps import SessionDep
from ophis.server.errors import NotFound, Unauthorized
from ophis.server.services.hosting import deployments, user_content
from ophis.server.web.caller import CallerDep
from ophis.server.web.reverse_proxy import METHODS
from ophis.server.web.user_content import hand_over, moved

router = APIRouter(prefix="/deployments", include_in_schema=False)


@router.api_route("/{owner}/{name}/{path:path}", methods=METHODS)
def enter_deployment(
    request: Request, owner: str, name: str, path: str, caller: CallerDep, session: SessionDep
) -> Response:
    deployment = deployments.find(session, owner, name)
    visit = request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")
    if not visit or (deployment is not None and deployment.public):
        return moved(request)
    if caller.row is None:
        raise Unauthorized("Sign in to open this deployment.", "Sign in, then try again.")
    if deployment is None or not deployments.can_invoke(session, caller.principal, deployment):
        raise NotFound(
            f"There is no deployment {owner}/{name} (or it is not yours to call).",
            "Check the address, or ask its owner for access.",
        )
    target = user_content.deployment_target(deployment.owner.login, deployment.name)
    return hand_over(request, session, caller.row.account, target, path)
