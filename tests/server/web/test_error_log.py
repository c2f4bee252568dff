"""The server's error log on the administration page: failed upload commits and unexpected
errors (HTTP 500s), with tokens redacted, the newest 1,000 kept."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import anyio
import httpx
import pytest
from fastapi import Request
from sqlalchemy import func, select

from ophis.server.app import create_app
from ophis.server.db.models import ServerErrorLog, utcnow
from ophis.server.services.events import error_log
from ophis.server.settings import ServerSettings
from ophis.testing.packages import conda_package, make_package
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, text_of

ADMIN_PAGE = "/settings/admin"


@pytest.fixture(scope="module")
def superuser(server: RunningServer) -> WebClient:
    client = WebClient(server)
    assert client.sign_in(server.admin, server.password).status_code == 303
    return client


def errors_section(browser: WebClient) -> str:
    page = browser.get(ADMIN_PAGE)
    assert page.status_code == 200, page.text
    return text_of(page).split("Server errors", 1)[1]


def test_a_failed_upload_commit_is_logged_for_the_administrators(
    server: RunningServer, superuser: WebClient, database: ServerDatabase, tmp_path: Path
) -> None:
    database.add(server.admin, conda_package(tmp_path, "target"))
    impostor = make_package(tmp_path / "impostor", "impostor", "1.0", "0")
    basename = f"noarch/{impostor.name}"
    token = server.login()
    headers = {"Authorization": f"token {token}", "X-Request-ID": "req-42"}
    with httpx.Client(base_url=server.api, headers=headers) as api:
        body = {
            "distribution_type": "conda",
            "sha256": hashlib.sha256(impostor.read_bytes()).hexdigest(),
            "channels": [],
        }
        staged = api.post(f"/stage/admin/target/1.0/{quote(basename)}", json=body).json()
        form = {**staged["form_data"], "Content-Length": str(impostor.stat().st_size)}
        stored = httpx.post(
            staged["post_url"], data=form, files={"file": (impostor.name, impostor.read_bytes())}
        )
        assert stored.status_code == 201
        commit = api.post(
            f"/commit/admin/target/1.0/{quote(basename)}", json={"dist_id": staged["dist_id"]}
        )
    assert commit.status_code == 400

    section = errors_section(superuser)
    assert f"POST /api/commit/admin/target/1.0/{basename}" in section
    assert "ophis.server.errors.BadRequest" in section
    assert "its package is &#39;impostor&#39;, not &#39;target&#39;" in section
    assert "req-42" in section
    assert token not in superuser.get(ADMIN_PAGE).text


def test_tokens_are_redacted_and_only_the_newest_rows_are_kept(
    superuser: WebClient, database: ServerDatabase
) -> None:
    with database.context.sessions() as session:  # a full log, oldest first
        start = utcnow() - timedelta(days=1)
        session.add_all(
            ServerErrorLog(
                occurred_at=start + timedelta(seconds=n),
                method="GET",
                path=f"/old/{n}",
                status=500,
                error_type="RuntimeError",
                message="old",
            )
            for n in range(error_log.KEEP)
        )
        session.commit()
    secret = "oph-" + "A1b2C3d4" * 5
    failure = error_log.Failure(
        method="GET",
        path=f"/t/{secret}/conda/x/noarch/repodata.json",
        status=500,
        error=RuntimeError(f"boom while reading with {secret}"),
    )
    error_log.record(database.context.sessions, failure)

    with database.context.sessions() as session:
        assert session.scalar(select(func.count()).select_from(ServerErrorLog)) == error_log.KEEP
        paths = set(session.scalars(select(ServerErrorLog.path)))
        newest = session.scalars(select(ServerErrorLog).order_by(ServerErrorLog.id.desc())).first()
    assert "/old/0" not in paths and f"/old/{error_log.KEEP - 1}" in paths
    assert newest is not None
    assert newest.path == "/t/<TOKEN>/conda/x/noarch/repodata.json"
    assert newest.message == "boom while reading with <TOKEN>"
    assert newest.error_type == "RuntimeError"
    section = errors_section(superuser)
    assert "GET /t/&lt;TOKEN&gt;/conda/x/noarch/repodata.json" in section
    assert secret not in section


def test_an_unexpected_error_is_answered_500_and_logged(tmp_path: Path) -> None:
    """The app's own 500 handler; the failing route is added here, as no route of the
    server fails on purpose."""
    settings = ServerSettings(data_dir=tmp_path / "data", webhook_sender=False)
    app = create_app(settings)

    def explode(request: Request) -> None:
        raise RuntimeError("the disk caught fire")

    app.add_api_route("/api/test-explode", explode, methods=["POST"])

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://ophis.test") as client:
            return await client.post("/api/test-explode", headers={"X-Request-ID": "abc"})

    answer = anyio.run(call)
    assert answer.status_code == 500
    assert answer.json()["error"] == "Internal server error."
    with app.state.context.sessions() as session:
        [row] = session.scalars(select(ServerErrorLog)).all()
    app.state.context.close()
    assert (row.method, row.path, row.status) == ("POST", "/api/test-explode", 500)
    assert (row.error_type, row.message, row.request_id) == (
        "RuntimeError",
        "the disk caught fire",
        "abc",
    )
