"""Errors the server answers with: each an :class:`OphisError` with an HTTP status, rendered
as ``{"error": message, "remedy": remedy}`` (anaconda-client shows ``error``)."""

from __future__ import annotations

from ophis.core.errors import OphisError


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
