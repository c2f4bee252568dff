"""Admission in front of the routes: each kind of request through its own gate, a bounded
wait, then 503 with Retry-After; the health endpoints never wait."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ophis.core.errors import OphisError
from ophis.server.admission import Admission, AdmissionMiddleware, PoolSize, thread_count
from ophis.server.health import READY, DatabaseProbe, Health, Readiness
from ophis.server.settings import ServerSettings

SETTINGS = ServerSettings(
    max_database_requests=1,
    max_file_requests=1,
    max_upload_requests=1,
    max_queued_requests=1,
    queue_wait_seconds=0.5,
)


class HeldApp:
    """An ASGI app whose requests stay inside until :meth:`finish` lets them go."""

    def __init__(self) -> None:
        self.inside: list[str] = []
        self._finish = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.inside.append(scope["path"])
        await self._finish.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def finish(self) -> None:
        self._finish.set()


async def request(app: Any, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    await app({"type": "http", "method": method, "path": path, "headers": []}, receive, send)
    headers = {k.decode(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


def test_a_request_past_the_queue_is_answered_503_with_retry_after_at_once() -> None:
    async def run() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(inner, Admission(SETTINGS))
        first = asyncio.create_task(request(app, "/api/user/bob"))
        second = asyncio.create_task(request(app, "/api/user/carol"))  # queued
        await asyncio.sleep(0.05)
        status, headers, body = await asyncio.wait_for(request(app, "/api/user/dan"), 0.2)
        assert (status, headers["retry-after"]) == (503, "1")
        answer = json.loads(body)
        assert "busy" in answer["error"] and "max_database_requests" in answer["remedy"]
        inner.finish()
        assert [(await first)[0], (await second)[0]] == [200, 200]
        assert inner.inside == ["/api/user/bob", "/api/user/carol"]

    asyncio.run(run())


def test_a_request_that_waits_past_its_bound_is_answered_503() -> None:
    async def run() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(inner, Admission(SETTINGS))
        first = asyncio.create_task(request(app, "/alice"))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        status, headers, _ = await request(app, "/bob")
        waited = asyncio.get_running_loop().time() - started
        assert (status, "retry-after" in headers) == (503, True)
        assert 0.4 < waited < 1.0
        inner.finish()
        assert (await first)[0] == 200

    asyncio.run(run())


def test_channel_files_and_uploads_are_not_held_behind_slow_api_requests() -> None:
    async def run() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(inner, Admission(SETTINGS))
        api = asyncio.create_task(request(app, "/api/packages/bob"))
        files = asyncio.create_task(request(app, "/conda/bob/noarch/repodata.json"))
        upload = asyncio.create_task(request(app, "/api/storage/abc", method="POST"))
        await asyncio.sleep(0.05)
        assert len(inner.inside) == 3  # each in its own gate, all inside at once
        inner.finish()
        assert {(await task)[0] for task in (api, files, upload)} == {200}

    asyncio.run(run())


def test_health_endpoints_are_answered_when_every_gate_is_full() -> None:
    async def run() -> None:
        inner = HeldApp()
        app = AdmissionMiddleware(inner, Admission(SETTINGS))
        held = [asyncio.create_task(request(app, "/api/user/bob")) for _ in range(2)]
        await asyncio.sleep(0.05)
        health = asyncio.create_task(request(app, "/healthz"))
        await asyncio.sleep(0.05)
        assert inner.inside[-1] == "/healthz"
        inner.finish()
        assert [(await task)[0] for task in (*held, health)] == [200, 200, 200]

    asyncio.run(run())


def test_the_pool_and_the_threads_hold_every_admitted_request() -> None:
    settings = dataclasses.replace(
        SETTINGS, max_database_requests=30, max_file_requests=40, max_upload_requests=5
    )
    pool = PoolSize.for_settings(settings)
    assert pool.pool_size > 75 and pool.max_overflow >= 75
    assert thread_count(settings) > 75


def test_a_limit_that_admits_no_request_is_refused_by_name() -> None:
    with pytest.raises(OphisError) as refused:
        PoolSize.for_settings(dataclasses.replace(SETTINGS, max_file_requests=0))
    assert "max_file_requests = 0" in refused.value.message


def test_readiness_is_503_while_starting_busy_or_draining(tmp_path: Path) -> None:
    database = tmp_path / "ophis.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")

    async def run() -> list[tuple[int, str]]:
        admission, readiness = Admission(SETTINGS), Readiness()
        probe = DatabaseProbe(f"sqlite:///{database}", 1.0)
        health = Health(probe, readiness, admission)
        seen = []
        for change in (
            lambda: None,
            lambda: setattr(readiness, "phase", READY),  # ready() would take the signals
            lambda: setattr(admission.files, "waiting", SETTINGS.max_queued_requests),
            lambda: setattr(admission.files, "waiting", 0),
            readiness.drain,
        ):
            change()
            status, body = await health.readiness_answer()
            seen.append((status, body["status"]))
        probe.close()
        return seen

    assert asyncio.run(run()) == [
        (503, "starting"),
        (200, "ready"),
        (503, "busy"),
        (200, "ready"),
        (503, "draining"),
    ]
