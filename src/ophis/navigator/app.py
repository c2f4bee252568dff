"""The navigator's web application: :func:`create_navigator_app` and its pages.

Routes are thin: they parse the form, call one function of :mod:`ophis.navigator.services`,
:mod:`~ophis.navigator.channels` or :mod:`~ophis.navigator.apps`, and render a page. Every
change to an environment goes plan -> confirmation page -> job (a worker thread) -> job
page, which refreshes itself while the packages download and link.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Form, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from starlette.templating import Jinja2Templates

from ophis import __version__
from ophis.core.errors import OphisError
from ophis.manager.config import home_dir
from ophis.navigator import apps, channels, models, services
from ophis.navigator.access import Access, check
from ophis.navigator.jobs import Job, PlannedChange, Workspace

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
#: the channel server's stylesheet, served as it is: the same look (read as a file, so that
#: the navigator does not import the server)
SITE_CSS = resources.files("ophis").joinpath("server", "web", "static", "ophis.css")
#: seconds the confirming request waits for the job before showing its progress page
QUICK_JOB = 0.5
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class NavigatorSettings:
    """What the navigator runs with: its one-time token and the user's environment
    variables (HOME, CONDARC, CONDA_PKGS_DIRS, ... as the CLI would see them)."""

    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    #: where launched programs' output goes
    log_dir: Path | None = None

    def logs(self) -> Path:
        return self.log_dir or home_dir(self.environ) / ".cache" / "ophis" / "navigator"


def create_navigator_app(settings: NavigatorSettings) -> FastAPI:
    app = FastAPI(title="Ophis Navigator", version=__version__, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.access = Access(settings.token)
    app.state.workspace = Workspace()
    app.state.launched = []
    app.state.served = []  # models served from the Models page

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        refused = check(request.app.state.access, request)
        return refused if refused is not None else await call_next(request)

    @app.exception_handler(OphisError)
    async def ophis_error(request: Request, error: OphisError) -> Response:
        return _error(request, error.message, error.remedy, 400)

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> Response:
        return _error(
            request,
            f"Something went wrong: {type(error).__name__}: {error}",
            "Nothing was changed. Try again; if it keeps happening, run the same change with "
            "the ophis command to see the details.",
            500,
        )

    _static_routes(app)
    _home_routes(app)
    _environment_routes(app)
    _change_routes(app)
    _channel_routes(app)
    _model_routes(app)
    return app


# --- rendering ------------------------------------------------------------------------------


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    return TEMPLATES.TemplateResponse(
        request, template, {"version": __version__, **context}, status_code=status, headers=_HEADERS
    )


def _error(request: Request, message: str, remedy: str, status: int) -> Response:
    referer = urlsplit(request.headers.get("referer") or "/")
    back = (referer.path or "/") + (f"?{referer.query}" if referer.query else "")
    return _render(request, "error.html", status, message=message, remedy=remedy, back=back)


def _see(path: str, **query: object) -> RedirectResponse:
    """303 See Other: after a form post the browser GETs the next page."""
    given = {k: v for k, v in query.items() if v not in (None, "")}
    return RedirectResponse(path + (f"?{urlencode(given)}" if given else ""), status_code=303)


def _env(request: Request) -> dict[str, str]:
    return request.app.state.settings.environ


def _confirm(request: Request, change: PlannedChange, back: str) -> Response:
    """The solve result, for the user's yes before anything changes."""
    request.app.state.workspace.keep(change)
    rows = services.plan_rows(change)
    return _render(request, "confirm.html", change=change, rows=rows, back=back)


# --- pages ----------------------------------------------------------------------------------


def _static_routes(app: FastAPI) -> None:
    @app.get("/static/ophis.css", include_in_schema=False)
    def site_css() -> Response:
        return Response(SITE_CSS.read_text("utf-8"), media_type="text/css")

    @app.get("/static/navigator.css", include_in_schema=False)
    def navigator_css() -> Response:
        return FileResponse(HERE / "static" / "navigator.css", media_type="text/css")


def _home_routes(app: FastAPI) -> None:
    @app.get("/")
    def home(request: Request, prefix: str = "") -> Response:
        config = services.load(_env(request))
        envs = services.environments(config, _env(request))
        chosen = services.find_environment(prefix, config, _env(request)) if prefix else None
        chosen = chosen or (envs[0].prefix if envs else None)
        shown = [(a, chosen is not None and apps.is_installed(chosen, a)) for a in apps.CATALOG]
        launched = [run for run in request.app.state.launched if run.prefix == chosen]
        return _render(
            request, "home.html", tab="home", envs=envs, chosen=chosen, apps=shown,
            launched=launched,
        )  # fmt: skip

    @app.post("/apps/launch")
    def launch(request: Request, prefix: str = Form(...), app_key: str = Form(...)) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        settings: NavigatorSettings = request.app.state.settings
        run = apps.launch(apps.app_named(app_key), target, config, _env(request), settings.logs())
        request.app.state.launched.append(run)
        return _see("/", prefix=str(target))

    @app.post("/apps/install")
    def install_app(
        request: Request, prefix: str = Form(...), app_key: str = Form(...)
    ) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        package = apps.app_named(app_key).package
        change = services.plan_packages(target, "install", [package], config, _env(request))
        return _confirm(request, change, f"/?{urlencode({'prefix': str(target)})}")


def _environment_routes(app: FastAPI) -> None:
    @app.get("/environments")
    def environments(request: Request) -> Response:
        config = services.load(_env(request))
        envs = services.environments(config, _env(request))
        return _render(request, "environments.html", tab="environments", envs=envs)

    @app.get("/environment")
    def environment(
        request: Request, prefix: str, show: str = "installed", q: str = ""
    ) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        show = show if show in services.FILTERS else "installed"
        table = services.package_table(target, config, show, q)
        busy = request.app.state.workspace.busy(target)
        return _render(
            request, "environment.html", tab="environments", prefix=target, table=table,
            show=show, q=q, filters=services.FILTERS, busy=busy,
        )  # fmt: skip

    @app.get("/environment/export")
    def export(request: Request, prefix: str) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        text = services.export_file(target, config)
        disposition = 'attachment; filename="environment.yml"'
        return Response(
            text, media_type="application/x-yaml", headers={"Content-Disposition": disposition}
        )


def _change_routes(app: FastAPI) -> None:
    @app.post("/environments/create")
    def create(
        request: Request,
        name: str = Form(...),
        language: str = Form("python"),
        version: str = Form(""),
        packages: str = Form(""),
    ) -> Response:
        config = services.load(_env(request))
        change = services.plan_create(name, language, version, packages, config, _env(request))
        return _confirm(request, change, "/environments")

    @app.post("/environments/import")
    def import_file(request: Request, file: UploadFile, name: str = Form("")) -> Response:
        # a plain def, as every route that calls the manager: it runs its own event loops
        # (downloads), which cannot start inside the server's
        data = file.file.read()
        config = services.load(_env(request))
        filename = file.filename or "environment.yml"
        change = services.plan_import(name, filename, data, config, _env(request))
        return _confirm(request, change, "/environments")

    @app.post("/environment/clone")
    def clone(request: Request, prefix: str = Form(...), name: str = Form(...)) -> Response:
        config = services.load(_env(request))
        source = services.find_environment(prefix, config, _env(request))
        change = services.plan_clone_of(source, name, config, _env(request))
        return _confirm(request, change, "/environments")

    @app.post("/environment/remove")
    def remove(request: Request, prefix: str = Form(...)) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        change = services.plan_remove_environment(target, config, _env(request))
        return _confirm(request, change, "/environments")

    @app.post("/environment/packages")
    def packages(
        request: Request,
        prefix: str = Form(...),
        action: str = Form(...),
        package: list[str] | None = Form(None),
    ) -> Response:
        config = services.load(_env(request))
        target = services.find_environment(prefix, config, _env(request))
        change = services.plan_packages(target, action, package or [], config, _env(request))
        return _confirm(request, change, f"/environment?{urlencode({'prefix': str(target)})}")

    @app.post("/plans/{plan_id}/apply")
    def apply(request: Request, plan_id: str) -> Response:
        job = request.app.state.workspace.start(plan_id)
        if job is None:
            raise OphisError(
                "This change was carried out or cancelled already.",
                "Look at the environment, and plan the change again if it is still needed.",
            )
        job.ended.wait(QUICK_JOB)  # a small change shows its result at once
        return _see(f"/jobs/{job.id}")

    @app.post("/plans/{plan_id}/cancel")
    def cancel(request: Request, plan_id: str, back: str = Form("/")) -> Response:
        request.app.state.workspace.plans.pop(plan_id, None)
        return _see(back if back.startswith("/") and not back.startswith("//") else "/")

    @app.get("/jobs/{job_id}.json")
    def job_json(request: Request, job_id: str) -> Response:
        return JSONResponse(_job(request, job_id).to_json(), headers={"Cache-Control": "no-store"})

    @app.get("/jobs/{job_id}")
    def job_page(request: Request, job_id: str) -> Response:
        job = _job(request, job_id)
        return _render(request, "job.html", job=job, prefix=job.change.request.prefix)


def _job(request: Request, job_id: str) -> Job:
    job = request.app.state.workspace.jobs.get(job_id)
    if job is None:
        raise OphisError("There is no such change.", "Start it again from the Environments page.")
    return job


def _channel_routes(app: FastAPI) -> None:
    @app.get("/channels")
    def channel_page(request: Request, notice: str = "") -> Response:
        shown = channels.channel_settings(_env(request))
        config = services.load(_env(request))
        return _render(
            request, "channels.html", tab="channels", settings=shown,
            effective=list(config.channels), notice=notice,
        )  # fmt: skip

    @app.post("/channels/add")
    def add(request: Request, channel: str = Form(...), position: str = Form("top")) -> Response:
        notices = channels.add_channel(_env(request), channel, top=position == "top")
        return _see("/channels", notice=" ".join(notices))

    @app.post("/channels/remove")
    def remove(request: Request, channel: str = Form(...)) -> Response:
        channels.remove_channel(_env(request), channel)
        return _see("/channels")

    @app.post("/channels/move")
    def move(request: Request, channel: str = Form(...), offset: int = Form(...)) -> Response:
        channels.move_channel(_env(request), channel, offset)
        return _see("/channels")

    @app.post("/channels/sign-in")
    def sign_in(
        request: Request,
        url: str = Form(...),
        username: str = Form(...),
        password: str = Form(...),
    ) -> Response:
        server = channels.sign_in(_env(request), url, username, password)
        return _see("/channels", notice=f"Signed in to {server.url} as {server.username}.")

    @app.post("/channels/sign-out")
    def sign_out(request: Request, server: str = Form(...)) -> Response:
        channels.sign_out(_env(request), server)
        return _see("/channels")


def _model_routes(app: FastAPI) -> None:
    @app.get("/models")
    def model_page(request: Request, notice: str = "") -> Response:
        served = [item for item in request.app.state.served if item.running]
        request.app.state.served = served
        local = models.cache(_env(request)).entries()
        return _render(
            request, "models.html", tab="models", local=local, served=served, notice=notice,
            root=models.cache(_env(request)).root,
        )  # fmt: skip

    @app.post("/models/pull")
    def pull(
        request: Request,
        model: str = Form(...),
        quantization: str = Form(""),
        server: str = Form(""),
        token: str = Form(""),
    ) -> Response:
        pulled = models.pull(_env(request), model.strip(), quantization.strip(), server, token)
        return _see("/models", notice=f"Pulled {pulled['model']} ({pulled['quantization']}).")

    @app.post("/models/serve")
    def serve(request: Request, model: str = Form(...), quantization: str = Form("")) -> Response:
        settings: NavigatorSettings = request.app.state.settings
        served = models.serve(_env(request), model, quantization, settings.logs())
        request.app.state.served.append(served)
        return _see("/models")

    @app.post("/models/stop")
    def stop(request: Request, url: str = Form(...)) -> Response:
        for item in request.app.state.served:
            if item.url == url:
                item.stop()
        return _see("/models")
