"""The application factory: ``create_app(settings)`` builds the whole server.

URL layout (one root, so that conda's token injection works):
``/api/...`` the anaconda-client API, ``/conda/<owner>[/label/<label>]/<subdir>/...`` conda
channels, ``/pypi/<owner>/simple/`` pip indexes, ``/healthz``; ``/t/<token>/`` is accepted
first and after ``/conda`` or ``/pypi``. Everything else is the web site (``ophis.server.web``),
whose errors are pages rather than JSON. Deployments and notebooks are served on a port of
their own (``ophis.server.web.user_content``), never on the site's origin.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ophis.core.errors import OphisError
from ophis.server.admission import Admission, AdmissionMiddleware, thread_count
from ophis.server.basic_auth import BasicTokenMiddleware
from ophis.server.body_limits import BodyLimitMiddleware
from ophis.server.conda.hot_path import ChannelHotPath
from ophis.server.conda.responses import check_accel_redirect
from ophis.server.context import ServerContext
from ophis.server.errors import error_body
from ophis.server.failures import record_failure
from ophis.server.health import DatabaseProbe, Health, Readiness
from ophis.server.middleware import (
    NulPathMiddleware,
    PathTokenMiddleware,
    UserContentMiddleware,
)
from ophis.server.proxies import ForwardedMiddleware
from ophis.server.services.catalog import retention
from ophis.server.services.channels import hot_channels, mirror_channels
from ophis.server.services.events import webhooks
from ophis.server.services.hosting import deployments, notebooks
from ophis.server.services.intake import staging
from ophis.server.settings import ServerSettings

log = logging.getLogger("ophis.server")
SETTINGS_ENV = "OPHIS_SERVER_SETTINGS"


def create_app(settings: ServerSettings, *, upgrade: bool = True) -> FastAPI:
    check_accel_redirect(settings)
    context = ServerContext.open(settings, upgrade=upgrade)
    admission = Admission(settings)
    probe = DatabaseProbe(settings.database, settings.health_timeout_seconds)
    readiness = Readiness()
    downloads = hot_channels.DownloadCounts(context.sessions)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        workers = [staging.purger(context.sessions, context.storage, settings)]
        if settings.webhook_sender:
            workers.append(webhooks.sender(context.sessions, settings))
        if settings.retention_runner:
            workers.append(retention.runner(context.sessions, context.storage, settings))
        if settings.mirror_runner:
            workers.append(mirror_channels.runner(context, settings))
        if settings.notebooks_enabled:
            workers.append(notebooks.reaper(settings))
        if settings.deployments_enabled:
            workers.append(deployments.supervisor(context, settings))
        for worker in workers:
            worker.start()
        to_thread.current_default_thread_limiter().total_tokens = thread_count(settings)
        readiness.ready()
        yield
        readiness.drain()
        await downloads.flush()  # the hot path's last downloads, counted before it stops
        for worker in workers:
            worker.stop()
        probe.close()
        context.close()

    app = FastAPI(  # docs: ophis.server.api.docs serves them without a CDN
        title="Ophis",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.context = context
    app.state.health = Health(probe, readiness, admission)
    _add_error_handlers(app)
    _add_routes(app)
    # innermost first: the body limit, admission and the hot path see the path without its
    # /t/<token>/ segment (the middlewares around them read no body; the hot path's GETs
    # have none). The hot path answers from memory, outside the admission gates; what it
    # passes on is admitted like any request.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(AdmissionMiddleware, admission=admission)
    app.add_middleware(ChannelHotPath, context=context, downloads=downloads)
    app.add_middleware(BasicTokenMiddleware)  # sees the path without /t/<token>/ too
    app.add_middleware(PathTokenMiddleware)
    app.add_middleware(NulPathMiddleware)
    _add_user_content(app, context, settings)
    app.add_middleware(ForwardedMiddleware, trusted_proxies=settings.trusted_proxies)
    return app


def _add_user_content(app: FastAPI, context: ServerContext, settings: ServerSettings) -> None:
    """Deployments and notebooks answer on their own port (an origin of their own)."""
    if settings.user_content_port and (settings.notebooks_enabled or settings.deployments_enabled):
        from ophis.server.web.user_content import create_user_content_app

        # bodies there are bounded as on the site (the proxies take max_upload_bytes)
        user_content = BodyLimitMiddleware(create_user_content_app(context), settings=settings)
        app.add_middleware(
            UserContentMiddleware, user_content=user_content, port=settings.user_content_port
        )


def app_from_environment() -> FastAPI:
    """The factory uvicorn's workers call (``ophis server start --workers N``); settings come
    as JSON in ``$OPHIS_SERVER_SETTINGS`` and the schema was upgraded before they started."""
    raw = json.loads(os.environ[SETTINGS_ENV])
    for name in ("data_dir", "user_homes_dir"):
        raw[name] = Path(raw[name])
    return create_app(ServerSettings(**raw), upgrade=False)


def settings_to_environment(settings: ServerSettings) -> str:
    return json.dumps(
        {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()}
    )


def _add_routes(app: FastAPI) -> None:
    from ophis.server.api import deployments as deployments_api
    from ophis.server.api import groups, labels, packages, root, session, stats, uploads

    app.include_router(root.router)
    app.include_router(session.router, prefix="/api")
    for api in (packages, uploads, labels, groups, stats, deployments_api):
        app.include_router(api.router, prefix="/api")
    from ophis.server.api import cves, docs

    app.include_router(docs.router)

    app.include_router(cves.router, prefix="/api")
    from ophis.server.api import sboms

    app.include_router(sboms.router, prefix="/api")
    from ophis.server.api import models as models_api

    app.include_router(models_api.router, prefix="/api")
    from ophis.server.conda import index_pages
    from ophis.server.conda import routes as conda_routes
    from ophis.server.pypi import routes as pypi_routes

    # first: a browser's /conda/<owner>/ and the pages conda-index writes (index.html, rss.xml)
    app.include_router(index_pages.router)
    app.include_router(index_pages.browser_router)
    app.include_router(conda_routes.router)
    app.include_router(pypi_routes.router)
    from ophis.server.web import add_web_routes

    add_web_routes(app)  # last: its /<owner> pages must not shadow the routes above


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OphisError)
    async def ophis_error(request: Request, error: OphisError) -> Response:
        status = getattr(error, "status", 400)
        headers = getattr(error, "headers", None)
        return await _error(request, status, error.message, error.remedy, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in error.errors()
        )
        return await _error(
            request, 422, f"The request is malformed: {problems}", "Fix the request and retry."
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> Response:
        message = error.detail if isinstance(error.detail, str) else "Request failed."
        if error.status_code == 404:
            message = "Not found."
        return await _error(request, error.status_code, message, "", headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        await run_in_threadpool(record_failure, request, 500, error)
        return await _error(
            request,
            500,
            "Internal server error.",
            "Try again; if it persists, tell the server's administrator.",
        )


async def _error(
    request: Request, status: int, message: str, remedy: str, headers: Any = None
) -> Response:
    """JSON ``{"error", "remedy"}`` for clients; a page for the web site's browsers."""
    from ophis.server.web.rendering import error_page, is_page

    if is_page(request):
        # in the thread pool: the page looks up who is signed in, in the database
        page = await run_in_threadpool(error_page, request, status, message, remedy)
        if headers:
            page.headers.update(headers)
        return page
    return JSONResponse(error_body(message, remedy), status_code=status, headers=headers)
