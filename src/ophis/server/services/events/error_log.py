"""The server's error log for its administrators: unexpected errors (the HTTP 500s) and
failed upload commits, newest first. Only the newest :data:`KEEP` rows are kept; each insert
deletes what falls beyond them, so the table never grows past that.

Recording runs while an error is being answered: it uses a session of its own (the
request's may be the one that failed) and never raises, since a failure to record must not
replace the error the client is to see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from ophis.core.redaction import redact
from ophis.server.db.models import ServerErrorLog

KEEP = 1000
_MESSAGE = 2000
log = logging.getLogger("ophis.server")


@dataclass(frozen=True)
class Failure:
    method: str
    path: str
    status: int
    error: BaseException
    request_id: str | None = None


def error_type(error: BaseException) -> str:
    """The exception's class, with its module unless it is a builtin."""
    kind = type(error)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def record(sessions: sessionmaker[Session], failure: Failure) -> None:
    """Keep one failure (tokens redacted from its path and message); never raises."""
    message = getattr(failure.error, "message", None) or str(failure.error)
    row = ServerErrorLog(
        method=failure.method[:10],
        path=redact(failure.path)[:2000],
        status=failure.status,
        error_type=error_type(failure.error)[:200],
        message=redact(message)[:_MESSAGE],
        request_id=failure.request_id[:200] if failure.request_id else None,
    )
    try:
        with sessions() as session:
            session.add(row)
            session.flush()
            _trim(session)
            session.commit()
    except Exception:  # the database may be what failed: the log line must do then
        log.exception("could not record the error of %s %s", failure.method, row.path)


def _trim(session: Session) -> None:
    """Delete the rows older than the newest KEEP (two primary-key look-ups)."""
    oldest_kept = session.scalar(
        select(ServerErrorLog.id).order_by(ServerErrorLog.id.desc()).offset(KEEP - 1).limit(1)
    )
    if oldest_kept is not None:
        session.execute(delete(ServerErrorLog).where(ServerErrorLog.id < oldest_kept))
