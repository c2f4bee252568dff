"""Download statistics of a package: JSON, or CSV with ``?format=csv``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from ophis.server.deps import PrincipalDep, SessionDep
from ophis.server.services.catalog import stats

router = APIRouter()


@router.get("/stats/{owner}/{package}", response_model=None)
def package_stats(
    owner: str,
    package: str,
    session: SessionDep,
    principal: PrincipalDep,
    days: Annotated[int, Query(ge=1, le=stats.MAX_DAYS)] = 30,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> dict[str, Any] | Response:
    found = stats.package_stats(session, principal, owner, package, days)
    if output == "csv":
        filename = f"{found.owner}-{found.package}-downloads.csv"
        return Response(
            found.as_csv(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return found.as_json()
