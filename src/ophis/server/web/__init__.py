"""The web site: Jinja2 pages served by the same app at the server's root.

Routes here are thin (parse, call one service, render); what a page shows comes from
``ophis.server.services.channels.browse`` and ``search``, sign-ins from ``web_sessions``, and every
authorization decision from ``authz``. The web routes are registered after the API, channel
and index routes, so that ``/<owner>`` never shadows ``/api``, ``/conda``, ``/pypi`` or
``/healthz`` or ``/readyz`` (those names are reserved against accounts).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from ophis.server.web.rendering import STATIC_DIR


def add_web_routes(app: FastAPI) -> None:
    from ophis.server.web import (
        account,
        admin,
        channel,
        deployments,
        labels_page,
        mirrors_page,
        notebooks,
        orgs,
        pages,
        retention,
        sign_in,
        webhooks,
    )

    app.include_router(sign_in.router)
    app.include_router(account.router)
    app.include_router(webhooks.router)
    app.include_router(retention.router)
    app.include_router(admin.router)
    app.include_router(orgs.router)
    app.include_router(channel.router)
    app.include_router(labels_page.router)
    app.include_router(mirrors_page.router)
    app.include_router(notebooks.router)
    app.include_router(deployments.router)
    from ophis.server.web import cves_page

    app.include_router(cves_page.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    from ophis.server.web import badges, downloads, models_page, repo_pages

    app.include_router(repo_pages.listing_router)  # /<owner>/repo before /<owner>/<package>
    app.include_router(models_page.router)  # /search/models, likewise
    # last: its /<owner>/... patterns would match anything registered after them, but for
    # these (after /<owner>/labels/<label>)
    app.include_router(pages.router)
    for router in (repo_pages.router, badges.router, downloads.router):
        app.include_router(router)
