"""Recording a request's failure in the administrators' error log
(:mod:`ophis.server.services.events.error_log`): what of the request is kept, in one place for the
app's 500 handler and the upload commit."""

from __future__ import annotations

from fastapi import Request

from ophis.server.services.events import error_log

#: a request id a proxy in front of the server may set (nginx ``$request_id``, Heroku...)
REQUEST_ID_HEADER = "x-request-id"


def record_failure(request: Request, status: int, error: BaseException) -> None:
    failure = error_log.Failure(
        method=request.method,
        path=request.url.path,
        status=status,
        error=error,
        request_id=request.headers.get(REQUEST_ID_HEADER),
    )
    error_log.record(request.app.state.context.sessions, failure)
