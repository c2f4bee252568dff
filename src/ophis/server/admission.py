"""Admission: how many requests the server serves at once, and what waits.

Why: FastAPI runs each sync dependency and route in anyio's thread pool, one hop each, and
a request's database session keeps its pooled connection from the first query to the end
of the response. Between hops a request holds a connection but no thread. With more such
requests than connections, every thread can end up waiting for a connection that a
request without a thread holds: the server stops until the pool's time-out answers 500.

The rule that makes it impossible: no more requests that may hold a connection are
admitted than the pool has connections for, and the thread pool has a thread for each of
them. An admitted request then never waits for a connection or a thread that a waiting
request holds; it only waits for work that is running. :class:`AdmissionMiddleware` admits
requests per kind (database-bound API and pages; channel files, which must not starve
behind slow API calls; uploads, whose bodies arrive slowly), each through a
:class:`Gate` with a bounded queue: a request that cannot get a slot in time, or finds the
queue full, is answered ``503`` with ``Retry-After`` -- never left hanging, never a 500.
``/healthz`` and ``/readyz`` bypass the gates, so a busy server still answers them.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from ophis.core.errors import OphisError
from ophis.server.errors import error_body
from ophis.server.settings import ServerSettings

#: connections and threads kept for what runs outside admitted requests: the background
#: workers (staging purger, webhooks, retention, mirrors, notebooks, deployments; a
#: mirror sync holds two) and the user-content port's short lookups
RESERVE = 8
#: seconds a client told 503 is asked to wait before it retries
RETRY_AFTER = 1
_LIMITS = ("max_database_requests", "max_file_requests", "max_upload_requests")
_EXEMPT = frozenset({"/healthz", "/readyz"})
_FILES = re.compile(r"^/(?:conda|pypi)/")
_UPLOADS = re.compile(r"^/api/(?:storage/[^/]+|deployments/[^/]+/[^/]+)$")


def admitted_requests(settings: ServerSettings) -> int:
    """Requests that may hold a database connection at once."""
    return sum(getattr(settings, name) for name in _LIMITS)


@dataclass(frozen=True)
class PoolSize:
    """The database pool that admitted requests never wait on: a connection kept for
    each admitted request and the reserve, and room for a second one per request (an
    error page or the error log opens its own session while the request's is open)."""

    pool_size: int
    max_overflow: int

    @classmethod
    def for_settings(cls, settings: ServerSettings) -> PoolSize:
        check_limits(settings)
        requests = admitted_requests(settings)
        return cls(pool_size=requests + RESERVE, max_overflow=requests)


def check_limits(settings: ServerSettings) -> None:
    """Refuse limits that would turn every request away (a gate with no slot)."""
    for name in _LIMITS:
        if getattr(settings, name) < 1:
            raise OphisError(
                f"{name} = {getattr(settings, name)} admits no request.",
                f"Give {name} a number of requests of at least 1.",
            )
    if settings.queue_wait_seconds <= 0 or settings.health_timeout_seconds <= 0:
        raise OphisError(
            "queue_wait_seconds and health_timeout_seconds must be more than 0.",
            "Give each a number of seconds.",
        )


def thread_count(settings: ServerSettings) -> int:
    """anyio's thread limiter: a thread for every admitted request and the reserve, never
    fewer than anyio's own default (40)."""
    return max(40, admitted_requests(settings) + RESERVE)


class Gate:
    """At most ``limit`` requests inside at once; up to ``queue`` more wait, each at most
    ``wait`` seconds, in arrival order."""

    def __init__(self, kind: str, setting: str, limit: int, queue: int, wait: float) -> None:
        self.kind, self.setting = kind, setting
        self.queue, self.wait = queue, wait
        self._slots = asyncio.Semaphore(limit)
        self.waiting = 0

    @property
    def full(self) -> bool:
        return self.waiting >= self.queue

    async def enter(self) -> bool:
        """Take a slot (True), or give up when the queue is full or the wait is over."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: no task, no timer on the hot path
            return True
        if self.full:
            return False
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1
        return True

    def leave(self) -> None:
        self._slots.release()


class Admission:
    """The server's gates, one per kind of request."""

    def __init__(self, settings: ServerSettings) -> None:
        queue, wait = settings.max_queued_requests, settings.queue_wait_seconds
        self.database = Gate(
            "API and page", "max_database_requests", settings.max_database_requests, queue, wait
        )
        self.files = Gate(
            "channel file", "max_file_requests", settings.max_file_requests, queue, wait
        )
        self.uploads = Gate(
            "upload", "max_upload_requests", settings.max_upload_requests, queue, wait
        )

    @property
    def gates(self) -> tuple[Gate, ...]:
        return (self.database, self.files, self.uploads)

    def gate_for(self, method: str, path: str) -> Gate | None:
        if path in _EXEMPT:
            return None
        if method == "POST" and _UPLOADS.match(path):
            return self.uploads
        if method in ("GET", "HEAD") and _FILES.match(path):
            return self.files
        return self.database

    def full(self) -> Gate | None:
        """A gate whose queue is full, if any: the server turns requests away now."""
        return next((gate for gate in self.gates if gate.full), None)


class AdmissionMiddleware:
    """Every HTTP request through its gate (see the module's docstring)."""

    def __init__(self, app: Any, admission: Admission) -> None:
        self.app, self.admission = app, admission

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        gate = (
            self.admission.gate_for(scope["method"], scope["path"])
            if scope["type"] == "http"
            else None
        )
        if gate is None:
            await self.app(scope, receive, send)
            return
        if not await gate.enter():
            await _send_busy(send, gate)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.leave()


def busy_body(gate: Gate) -> dict[str, str]:
    return error_body(
        f"The server is busy: too many {gate.kind} requests are waiting.",
        f"Retry in {RETRY_AFTER} s (conda and pip do so by themselves). If it persists, "
        f"the server's administrator can raise {gate.setting} or add workers.",
    )


async def _send_busy(send: Any, gate: Gate) -> None:
    body = json.dumps(busy_body(gate)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"retry-after", b"%d" % RETRY_AFTER),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})
