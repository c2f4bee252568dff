"""``/healthz`` and the API root (``HEAD /api`` for anaconda-client, ``GET /api`` for older
conda and Navigator, reference §6)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from ophis.server.deps import ContextDep

router = APIRouter()


def root_url(request: Request, context: ContextDep) -> str:
    configured = context.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


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
