"""The model catalog's JSON API: ``GET /api/models`` (search) and
``GET /api/models/{owner}/{name}`` (a model and its variants). Each variant's
``download_url`` is the file's download by release, which answers ``Range`` (206/416),
``ETag`` (the sha256), ``Content-Length`` and ``X-Checksum-Sha256``, so a pull can resume
and verify; tokens go in ``Authorization: token <t>`` as everywhere."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request

from ophis.server.api.root import root_url
from ophis.server.db.models import File
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.services.accounts import authz
from ophis.server.services.channels import models
from ophis.server.services.channels.models import MAX_PAGES, Model, ModelFilters
from ophis.server.web.links import download_url

router = APIRouter()


@router.get("/models")
def search(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
    q: Annotated[str, Query(max_length=200)] = "",
    task: Annotated[str, Query(max_length=40)] = "",
    quantization: Annotated[str, Query(max_length=40)] = "",
    min_parameters: Annotated[str, Query(max_length=40)] = "",
    max_parameters: Annotated[str, Query(max_length=40)] = "",
    owner: Annotated[str, Query(max_length=80)] = "",
    page: Annotated[int, Query(ge=1, le=MAX_PAGES)] = 1,
) -> list[dict[str, Any]]:
    filters = ModelFilters.from_query(q, task, quantization, min_parameters, max_parameters, owner)
    found = models.search_models(session, principal, filters, page)
    root = root_url(request, context)
    return [
        {**model_card(model), "quantizations": model.quantizations, "url": page_url(root, model)}
        for model in found
    ]


@router.get("/models/{owner}/{name}")
def detail(
    owner: str,
    name: str,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> dict[str, Any]:
    model = models.get_model(session, principal, owner, name)
    root = root_url(request, context)
    return {
        **model_card(model),
        "versions": model.versions,
        "latest_version": model.latest_version,
        "variants": [variant_public(root, row) for row in model.variants],
        "url": page_url(root, model),
    }


def model_card(model: Model) -> dict[str, Any]:
    card, package = model.card, model.package
    return {
        "owner": package.owner.login,
        "name": package.name,
        "summary": package.summary,
        "task": card.get("task") or "",
        "architecture": card.get("architecture") or "",
        "parameters": card.get("parameters"),
        "context_length": card.get("context_length"),
        "license": model.license,
        "tokenizer": card.get("tokenizer") or "",
        # whether anyone may read it: a mirror reading with a token keeps the rest private
        "public": authz.is_public(package),
    }


def variant_public(root: str, row: File) -> dict[str, Any]:
    return {
        "basename": row.basename,
        "version": row.release.version,
        "format": row.attrs.get("format"),
        "quantization": row.attrs.get("quantization"),
        "size": row.size,
        "sha256": row.sha256,
        "parameters": row.attrs.get("parameters"),
        "downloads": row.download_count,
        "labels": sorted(label.name for label in row.labels),
        "download_url": download_url(root, row),
    }


def page_url(root: str, model: Model) -> str:
    return f"{root}/{quote(model.package.owner.login)}/{quote(model.package.name)}/model"
