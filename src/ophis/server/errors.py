"""Errors the server answers with: each an :class:`OphisError` with an HTTP status, rendered
as ``{"error": message, "remedy": remedy}`` (anaconda-client shows ``error``)."""

from __future__ import annotations

import json

from ophis.core.errors import OphisError


def error_body(message: str, remedy: str) -> dict[str, str]:
    """What every refusal of the server answers, as JSON (anaconda-client shows ``error``)."""
    return {"error": message, "remedy": remedy}


def error_json(message: str, remedy: str) -> bytes:
    """:func:`error_body` encoded, for the ASGI layers that answer before any route."""
    return json.dumps(error_body(message, remedy)).encode()


class ServerError(OphisError):
    status = 500
    #: headers the answer carries besides the error (``Retry-After``)
    headers: dict[str, str] = {}  # noqa: RUF012 (read only)


class BadRequest(ServerError):
    status = 400
    exception_name = "BadRequest"


class Unauthorized(ServerError):
    status = 401
    exception_name = "Unauthorized"


class Forbidden(ServerError):
    status = 403
    exception_name = "Forbidden"


class NotFound(ServerError):
    """Also what a caller gets for private content it may not see: 404, never 403, so that
    its existence does not leak."""

    status = 404
    exception_name = "NotFound"


class Conflict(ServerError):
    status = 409
    exception_name = "Conflict"


class PayloadTooLarge(ServerError):
    status = 413
    exception_name = "PayloadTooLarge"


class TooManyRequests(ServerError):
    status = 429
    exception_name = "TooManyRequests"
