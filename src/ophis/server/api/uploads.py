"""The upload handshake (reference §4): ``POST /stage``, the storage POST to the
``post_url`` it returns, ``POST /commit``.

The storage POST is S3's browser-upload protocol: no auth header (the one-time key in the
form authorises it), the file as the last multipart field, exactly 201 on success and an
XML ``<Error>`` otherwise (anaconda-client parses XML there). Its body is read as it
arrives, so a multi-gigabyte package never sits in memory.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import anyio.from_thread
from fastapi import APIRouter, Request, Response
from packaging.utils import canonicalize_name
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect

from ophis.core.distribution_types import DistributionType
from ophis.core.errors import OphisError
from ophis.server.api.root import root_url
from ophis.server.body_limits import BodyTooLarge
from ophis.server.db.models import File
from ophis.server.deps import ContextDep, PrincipalDep, SessionDep
from ophis.server.failures import record_failure
from ophis.server.schemas import CommitRequest, StageCreate, file_public
from ophis.server.services.catalog.files import MAIN, channel_path
from ophis.server.services.intake import uploads
from ophis.server.services.intake.uploads import StoragePostError

router = APIRouter()
log = logging.getLogger("ophis.server")
#: form fields before the file are small (a key, a size, a digest)
_MAX_FIELD = 64 * 1024


@router.post("/stage/{owner}/{name}/{version}/{basename:path}")
def stage(
    owner: str,
    name: str,
    version: str,
    basename: str,
    body: StageCreate,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> dict[str, Any]:
    staged = uploads.stage(
        session,
        context.storage,
        context.settings,
        principal,
        (owner, name, version, basename),
        body,
    )
    return {
        "post_url": f"{root_url(request, context)}/api/storage/{staged.dist_id}",
        "form_data": {uploads.UPLOAD_KEY: staged.upload_key},
        "dist_id": staged.dist_id,
    }


@router.post("/storage/{dist_id}", status_code=201)
def storage_post(
    dist_id: str, request: Request, session: SessionDep, context: ContextDep
) -> Response:
    try:
        form = FormReader(request.headers.get("content-type", ""), _body(request))
        fields = form.fields()
        uploads.receive(
            session, context.storage, context.settings, dist_id, fields, form.file_chunks()
        )
    except StoragePostError as error:
        return _xml_error(error.status, error.code, str(error))
    except Exception:  # the client crashes on any error body that is not S3's XML
        log.exception("storage POST of upload %s failed", dist_id)
        return _xml_error(500, "InternalError", "The server failed to store the file; retry.")
    return Response(status_code=201)


@router.post("/commit/{owner}/{name}/{version}/{basename:path}")
def commit(
    owner: str,
    name: str,
    version: str,
    basename: str,
    body: CommitRequest,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    context: ContextDep,
) -> dict[str, Any]:
    try:
        row = uploads.commit(
            session, context.storage, principal, (owner, name, version, basename), body.dist_id
        )
    except OphisError as error:  # a refused commit; unexpected errors are logged as 500s
        record_failure(request, getattr(error, "status", 400), error)
        raise
    return {**file_public(row), "url": _located_at(root_url(request, context), row)}


def _located_at(root: str, row: File) -> str:
    """Where the file installs from (the client prints it): its pip index, or the conda
    channel of its first label (``main`` being the plain channel)."""
    package = row.release.package
    owner = package.owner.login
    if row.distribution_type == DistributionType.PYPI:
        return f"{root}/pypi/{owner}/simple/{canonicalize_name(package.name)}/"
    if row.distribution_type in (DistributionType.PROJECT, DistributionType.GENERIC):
        return f"{root}/{owner}/{package.name}"
    names = sorted(label.name for label in row.labels)
    return f"{root}/conda/{channel_path(owner, MAIN if MAIN in names else names[0])}"


def _xml_error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
    )
    return Response(body, status_code=status, media_type="application/xml")


def _body(request: Request) -> Iterator[bytes]:
    """The request body as it arrives, for this sync route (it runs in a worker thread;
    the stream belongs to the event loop)."""
    stream = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    while True:
        try:
            chunk = anyio.from_thread.run(next_chunk)
        except BodyTooLarge as error:  # the middleware answers 413; this ends the route
            raise StoragePostError("EntityTooLarge", str(error.detail)) from None
        except ClientDisconnect:
            raise StoragePostError(
                "IncompleteBody", "The connection closed before the file was complete."
            ) from None
        if chunk is None:
            return
        if chunk:
            yield chunk


class FormReader:
    """A ``multipart/form-data`` body read in order: the fields before the file part,
    then the file part's bytes as they come."""

    def __init__(self, content_type: str, chunks: Iterator[bytes]) -> None:
        kind, options = parse_options_header(content_type)
        if kind != b"multipart/form-data" or not options.get(b"boundary"):
            raise _malformed("The body is not multipart/form-data.")
        self._chunks = chunks
        #: ("field", name), ("file", b""), ("data", bytes), ("end", b"")
        self._events: deque[tuple[str, bytes]] = deque()
        self._header = b""
        self._headers: dict[bytes, bytes] = {}
        self._parser = MultipartParser(
            options[b"boundary"],
            {
                "on_part_begin": self._headers.clear,
                "on_header_begin": self._header_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": lambda: self._events.append(("end", b"")),
            },
        )

    def fields(self) -> dict[str, str]:
        """The fields up to the file part (named ``file``, or any part with a filename)."""
        fields: dict[str, str] = {}
        while True:
            kind, name = self._next()
            if kind == "file":
                return fields
            if kind != "field":
                raise _malformed("Expected a form field.")
            fields[name.decode("utf-8", "replace")] = self._field_value()

    def file_chunks(self) -> Iterator[bytes]:
        while (event := self._next())[0] == "data":
            yield event[1]

    def _field_value(self) -> str:
        value = b""
        while (event := self._next())[0] == "data":
            value += event[1]
            if len(value) > _MAX_FIELD:
                raise _malformed("A form field is too long.")
        return value.decode("utf-8", "replace")

    def _next(self) -> tuple[str, bytes]:
        while not self._events:
            chunk = next(self._chunks, None)
            if chunk is None:
                raise StoragePostError(
                    "IncompleteBody",
                    "The body ended before the file part was complete.",
                    "Upload the file again with `anaconda upload`.",
                )
            try:
                self._parser.write(chunk)
            except MultipartParseError as error:
                raise _malformed(f"The multipart body is malformed: {error}") from None
        return self._events.popleft()

    def _header_begin(self) -> None:
        self._header = b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header += data[start:end].lower()

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header] = self._headers.get(self._header, b"") + data[start:end]

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"")
        is_file = name == b"file" or b"filename" in options
        self._events.append(("file", b"") if is_file else ("field", name))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self._events.append(("data", bytes(data[start:end])))


def _malformed(message: str) -> StoragePostError:
    return StoragePostError(
        "MalformedPOSTRequest", message, "Upload the file again with `anaconda upload`."
    )
