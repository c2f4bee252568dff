"""What ``/healthz`` and ``/readyz`` report: can the database be reached in time, and
should a load balancer send this process requests now.

The database check runs in a thread of its own (never one of the request threads, which a
busy server may have none of to spare) on a connection of its own, opened per check (a
pooled one could hide a database that refuses new connections). One check runs at a time:
callers that arrive meanwhile wait for the same answer, so a stuck database holds one
thread, however often the probes come. A success is reused for a second.

On SQLite a read never waits in WAL mode, so the check also takes the write lock for a
moment (``BEGIN IMMEDIATE``): a database that some process keeps locked longer than the
time-out cannot take an upload or a sign-in either. On PostgreSQL it reads the schema's
version with a statement time-out.
"""

from __future__ import annotations

import asyncio
import math
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

from ophis.server.admission import Admission, busy_body

#: seconds a successful check is reused
_FRESH = 1.0
STARTING, READY, DRAINING = "starting", "ready", "draining"


class DatabaseProbe:
    def __init__(self, url: str, timeout: float) -> None:
        self.timeout = timeout
        self._engine = _probe_engine(url, timeout)
        self._statements = _statements(self._engine)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="ophis-health")
        self._running: asyncio.Future[str | None] | None = None
        self._fresh_until = 0.0

    async def problem(self) -> str | None:
        """None when the database answered in time, else what went wrong."""
        if time.monotonic() < self._fresh_until:
            return None
        if self._running is None or self._running.done():
            loop = asyncio.get_running_loop()
            self._running = loop.run_in_executor(self._thread, self._check)
        try:
            async with asyncio.timeout(self.timeout):
                problem = await asyncio.shield(self._running)
        except TimeoutError:
            return f"The database did not answer within {self.timeout:g} s."
        if problem is None:
            self._fresh_until = time.monotonic() + _FRESH
        return problem

    def _check(self) -> str | None:
        try:
            connection = self._engine.raw_connection()
            try:
                cursor = connection.cursor()
                for statement in self._statements:
                    cursor.execute(statement)
                cursor.close()
            finally:
                connection.close()
        except Exception as error:  # whatever the driver raises is the answer
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return f"The database refused the check: {first_line or type(error).__name__}."
        return None

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._engine.dispose()


def _probe_engine(url: str, timeout: float) -> Engine:
    if url.startswith("sqlite"):
        # isolation_level None: the driver leaves BEGIN and ROLLBACK to the statements
        connect_args: dict[str, Any] = {
            "check_same_thread": False,
            "timeout": timeout,
            "isolation_level": None,
        }
    else:
        milliseconds = int(timeout * 1000)
        connect_args = {
            "connect_timeout": max(1, math.ceil(timeout)),
            "options": f"-c statement_timeout={milliseconds} -c lock_timeout={milliseconds}",
        }
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _statements(engine: Engine) -> list[str]:
    if engine.dialect.name == "sqlite":
        return ["BEGIN IMMEDIATE", "SELECT 1 FROM alembic_version", "ROLLBACK"]
    return ["SELECT 1 FROM alembic_version"]


class Readiness:
    """Where the process is in its life: starting, ready, draining (told to stop)."""

    def __init__(self) -> None:
        self.phase = STARTING

    def ready(self) -> None:
        self.phase = READY
        self._drain_on_signals()

    def drain(self) -> None:
        self.phase = DRAINING

    def _drain_on_signals(self) -> None:
        """Draining from the moment the process is told to stop: the server (uvicorn)
        then finishes the requests in flight, and readiness answers 503 meanwhile."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(number)
            if callable(previous):
                signal.signal(number, _chained(self.drain, previous))


def _chained(first: Callable[[], None], then: Callable[..., Any]) -> Callable[..., Any]:
    def handler(number: int, frame: Any) -> Any:
        first()
        return then(number, frame)

    return handler


@dataclass(frozen=True)
class Health:
    """The answers of ``/healthz`` (is this process able to serve: its database) and
    ``/readyz`` (should it be sent requests now), as a status and a JSON body."""

    probe: DatabaseProbe
    readiness: Readiness
    admission: Admission

    async def liveness(self) -> tuple[int, dict[str, str]]:
        problem = await self.probe.problem()
        if problem is None:
            return 200, {"status": "ok", "database": "ok"}
        return 503, _unavailable("database unreachable", problem, _DATABASE_REMEDY)

    async def readiness_answer(self) -> tuple[int, dict[str, str]]:
        phase = self.readiness.phase
        if phase != READY:
            reason = f"The server is {phase}." if phase == STARTING else "The server is stopping."
            return 503, _unavailable(phase, reason, "Send requests to another instance.")
        if (gate := self.admission.full()) is not None:
            busy = busy_body(gate)
            return 503, _unavailable("busy", busy["error"], busy["remedy"])
        problem = await self.probe.problem()
        if problem is not None:
            return 503, _unavailable("database unreachable", problem, _DATABASE_REMEDY)
        return 200, {"status": "ready", "database": "ok"}


_DATABASE_REMEDY = (
    "Check that the database is running and reachable, and what holds it locked; the "
    "server answers again as soon as it responds."
)


def _unavailable(status: str, reason: str, remedy: str) -> dict[str, str]:
    return {"status": status, "error": reason, "remedy": remedy}
