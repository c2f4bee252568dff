"""``/api/docs``: the interactive API documentation (Swagger UI 5, which reads OpenAPI 3.1),
served by this server from the ``fastapi-swagger`` package under a Content-Security-Policy
that lets the page load nothing from any other host. FastAPI's own docs pages (which load
Swagger UI and ReDoc from a CDN) are turned off in :func:`ophis.server.app.create_app`."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from ophis.server.errors import NotFound

router = APIRouter(include_in_schema=False)
_ASSETS = files("fastapi_swagger.resources")
#: the files of the bundle the page uses; nothing else of the package is served
_SERVED = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"})
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Relative URLs: right behind a proxy that serves the server under a path prefix too.
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ophis API</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise send the document to a public validator
_START = """SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
});
"""


@router.get("/api/docs")
def docs_page() -> HTMLResponse:
    return HTMLResponse(_PAGE, headers=_HEADERS)


@router.get("/api/docs/start.js")
def docs_start() -> Response:
    return Response(_START, media_type="text/javascript", headers=_HEADERS)


@router.get("/api/docs/{name}")
def docs_asset(name: str) -> FileResponse:
    if name not in _SERVED:
        raise NotFound(f"The API documentation has no file {name!r}.", "Open /api/docs.")
    return FileResponse(str(_ASSETS / name), headers=_HEADERS)
