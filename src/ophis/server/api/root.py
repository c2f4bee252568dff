"""``/healthz``, ``/readyz`` and the API root (``HEAD /api`` for anaconda-client, ``GET /api``
for older conda and Navigator, reference §6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from ophis.server.deps import ContextDep

router = APIRouter()


def root_url(request: Request, context: ContextDep) -> str:
    configured = context.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


# async, and never behind admission: answered by a busy server without a request thread
@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    """200 while the database answers in time; 503 with the reason when it does not."""
    status, body = await request.app.state.health.liveness()
    return JSONResponse(body, status_code=status, headers=_UNCACHED)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """For load balancers: 200 when this process should be sent requests; 503 while it
    starts, once it is told to stop, when its admission queue is full or its database is
    unreachable."""
    status, body = await request.app.state.health.readiness_answer()
    return JSONResponse(body, status_code=status, headers=_UNCACHED)


_UNCACHED = {"Cache-Control": "no-store"}


@router.head("/api")
def api_head() -> Response:
    return Response(status_code=200)


@router.get("/api")
def api_root(request: Request, context: ContextDep) -> dict[str, Any]:
    root = root_url(request, context)
    return {
        "api_url": f"{root}/api",
        "conda_url": f"{root}/conda",
        "pypi_url": f"{root}/pypi",
        "main_url": root,
        "swagger_url": f"{root}/api/docs",
        "user": None,
    }
