"""A redirect from a file's URL under a label it has left to its URL under the label it is
in now (:mod:`ophis.server.services.catalog.moved_files`), for conda channels and pip indexes.

The ``Location`` is relative (RFC 9110 allows it; requests, httpx and reqwest resolve it),
so that whatever precedes the owner in the URL the client used, a ``/t/<token>/`` segment
or a reverse proxy's prefix, is kept. 302, not 301: a file may move again, and nothing
should remember the answer.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from ophis.server.errors import NotFound
from ophis.server.services.accounts.authz import Principal
from ophis.server.services.catalog import moved_files
from ophis.server.services.catalog.files import MAIN


def moved_file_redirect(
    missing: NotFound,
    request: Request,
    session: Session,
    principal: Principal,
    basename: str,
    distribution_type: str,
    scope: str,
    folder: str,
) -> Response:
    """A redirect to where the file named by ``request`` is now, else ``missing`` raised
    again. ``folder`` is the path segment before the file name (a subdir, or ``files`` in a
    pip index)."""
    session.rollback()  # the failed look-up's transaction (a proxy label may have begun one)
    owner, label = request.path_params["owner"], request.path_params.get("label", MAIN)
    now = moved_files.current_label(session, principal, owner, basename, distribution_type, scope)
    if now is None or now == label:
        raise missing
    # up from <folder>/ (and label/<label>/ when the URL has it) to the owner's channel
    up = "../" * (3 if "label" in request.path_params else 1)
    under = "" if now == MAIN else f"label/{now}/"
    filename = basename.rsplit("/", 1)[-1]
    headers = {"Cache-Control": "no-store"}
    return RedirectResponse(f"{up}{under}{folder}/{filename}", status_code=302, headers=headers)
