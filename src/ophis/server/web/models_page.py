"""The model catalog's pages: ``/search/models`` (search with filters by task, quantization
and parameter count) and ``/<owner>/<model>/model`` (the model's card and its variants:
quantization, format, size, parameters, sha256, downloads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ophis.core.model_files import TASKS
from ophis.server.deps import SessionDep
from ophis.server.services.accounts import authz
from ophis.server.services.channels import models
from ophis.server.web import links
from ophis.server.web.caller import CallerDep
from ophis.server.web.pages import only_pages
from ophis.server.web.rendering import base_of, render

#: registered before the package pages, whose ``/<owner>/<package>`` would take it
router = APIRouter(include_in_schema=False, dependencies=[Depends(only_pages)])
Text = Annotated[str, Query(max_length=200)]
Count = Annotated[str, Query(max_length=40)]
#: the quantization methods the search form offers (any other may be typed in the URL)
QUANTIZATIONS = ("F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "INT8")


def parameters(count: int | None) -> str:
    """A parameter count as model cards write it: 22.7M, 7.2B."""
    if not count:
        return ""
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


@router.get("/search/models")
def models_page(
    request: Request,
    caller: CallerDep,
    session: SessionDep,
    q: Text = "",
    task: Text = "",
    quantization: Text = "",
    min_parameters: Count = "",
    max_parameters: Count = "",
) -> Response:
    filters = models.ModelFilters.from_query(q, task, quantization, min_parameters, max_parameters)
    return render(
        request,
        caller,
        "models.html",
        found=models.search_models(session, caller.principal, filters),
        filters=filters,
        tasks=TASKS,
        quantizations=QUANTIZATIONS,
        parameters=parameters,
    )


@router.get("/{owner}/{name}/model")
def model_page(
    owner: str, name: str, request: Request, caller: CallerDep, session: SessionDep
) -> Response:
    model = models.get_model(session, caller.principal, owner, name)
    base = base_of(request)
    # a private model's files answer only with a token, which a browser does not send
    public = authz.is_public(model.package)
    rows = [
        links.FileView(row, links.download_url(base, row) if public else None)
        for row in model.variants
    ]
    return render(
        request,
        caller,
        "model.html",
        model=model,
        package=model.package,
        rows=rows,
        parameters=parameters,
        package_path=links.package_path,
    )
