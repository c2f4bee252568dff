"""The hot path: what channels serve most, answered before the router.

conda, pixi and mirrors ask for ``/conda/<owner>[/label/<label>]/<subdir>/repodata.json``
(and its ``.zst``, ``current_repodata.json``, the shard index and shards) far more than
for anything else, and mostly anonymously. Such a request, without a token (no
``Authorization`` header, no ``/t/<token>/``), is answered here from the channel cache's
memory (package files from their local storage, the small ones from memory too:
:mod:`ophis.server.conda.held_files`; their downloads counted in memory and written in
rounds): where the anonymous view's documents are kept is looked up once
(:mod:`ophis.server.services.channels.hot_channels`, with the routes' own authorization) and reused
until a write changes a channel, so that no database query, dependency or thread is spent
per request. The answer is the routes' (:func:`ophis.server.conda.responses.document_headers`:
ETag, 304s, Last-Modified, codings). Everything else -- requests with a token, a
document not built yet or not in memory, a proxy channel, an unknown channel -- goes on to
the routes, which build, read and explain.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ophis.core.shards import SHARDS_DIR
from ophis.server.conda.held_files import HeldFiles, encoded, hold_file
from ophis.server.conda.responses import CHUNK, document_headers, not_modified
from ophis.server.context import ServerContext
from ophis.server.services.catalog.files import MAIN
from ophis.server.services.channels import hot_channels, repodata
from ophis.server.services.channels.channel_cache import Artifact
from ophis.server.services.channels.channel_changes import change_counter, reuse_seconds
from ophis.server.services.channels.encodings import (
    Representation,
    held_representation,
    representation,
)

_SUBDIR_FILE = re.compile(
    r"^/conda/(?P<owner>[^/]+)(?:/label/(?P<label>[^/]+))?/(?P<subdir>[^/]+)/"
    r"(?P<shards>shards/)?(?P<name>[^/]+)$"
)
_GET_HEAD = ("GET", "HEAD")
#: what a package file's name ends with (attestations and other names go to the routes)
PACKAGE_SUFFIXES = (".conda", ".tar.bz2")


class ChannelHotPath:
    """Pure ASGI, inside the token middleware (which takes ``/t/<token>/`` out of the path
    and keeps it in the request's state)."""

    def __init__(
        self, app: Any, context: ServerContext, downloads: hot_channels.DownloadCounts
    ) -> None:
        self.app = app
        settings = self.settings = context.settings
        self.sessions, self.storage = context.sessions, context.storage
        self.cache = repodata.channel_cache(settings.cache_dir / "channels")
        counter = change_counter(settings)
        self.lookups = hot_channels.Lookups(counter, reuse_seconds(settings))
        self.downloads = downloads
        self.files = HeldFiles()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            match = _SUBDIR_FILE.match(scope["path"])
            if match is None:
                # a page, an API call or a badge may show counts: the hot path's go first
                if self.downloads.pending:
                    await self.downloads.flush()
            elif scope["method"] in _GET_HEAD:
                headers = _request_headers(scope)
                if headers is not None and await self._answer(scope, receive, send, match, headers):
                    return
        await self.app(scope, receive, send)

    async def _answer(
        self,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        match: re.Match[str],
        headers: dict[str, str],
    ) -> bool:
        """Answer from memory, or say (False) that the routes must."""
        name = match["name"]
        if not match["shards"] and name.endswith(PACKAGE_SUFFIXES):
            return await self._package_file(scope, receive, send, match, headers)
        if match["shards"]:
            if not repodata.is_shard(name):
                return False
            name = f"{SHARDS_DIR}/{name}"
        elif not repodata.is_document(name):
            return False
        login, label, subdir = match["owner"], match["label"] or MAIN, match["subdir"]
        key = await self.lookups.get(
            (login.lower(), label, subdir),
            lambda: self._look_up(login, label, subdir),
        )
        artifact = None if key is None else self.cache.held(key, name)
        if artifact is None:
            return False
        accept_encoding = headers.get("accept-encoding", "")
        chosen = held_representation(self.cache, artifact, accept_encoding)
        if chosen is None:  # a coding not made yet: made once, in a thread
            chosen = await asyncio.to_thread(representation, self.cache, artifact, accept_encoding)
        if not_modified(headers, artifact.etag, artifact.last_modified):
            await _send(send, 304, _raw_headers(artifact, chosen, False), None)
        else:
            body = None if scope["method"] == "HEAD" else chosen.body
            await _send(send, 200, _raw_headers(artifact, chosen, True), body)
        return True

    async def _package_file(
        self,
        scope: dict[str, Any],
        receive: Any,
        send: Any,
        match: re.Match[str],
        headers: dict[str, str],
    ) -> bool:
        """A local package file anyone may download, sent as the routes send it (Range
        answered) and its download counted once answered; the routes hand files to a proxy
        in front."""
        if self.settings.accel_redirect:
            return False
        login, label, subdir, name = (
            match["owner"],
            match["label"] or MAIN,
            match["subdir"],
            match["name"],
        )
        download = await self.lookups.get(
            ("file", login.lower(), label, subdir, name),
            lambda: self._look_up_file(login, label, subdir, name),
        )
        if download is None or download.file_id is None:
            return False
        held = self.files.get(download)
        if held is None:
            path = self.storage.local_path(download.storage_key)
            held = None if path is None else await asyncio.to_thread(hold_file, path, download)
            if held is None:
                return False
            self.files.put(download, held)
        if not_modified(headers, held.etag, None):
            await _send(send, 304, held.not_modified, None)
        elif held.body is not None and "range" not in headers:
            body = None if scope["method"] == "HEAD" else held.body
            await _send(send, 200, held.whole, body)
        else:  # Range and large files: Starlette's file answer (206, 416, in slices)
            await held.response()(scope, receive, send)
        if scope["method"] == "GET":
            self.downloads.add(download.file_id)
        return True

    def _look_up_file(self, login: str, label: str, subdir: str, name: str) -> Any:
        with self.sessions() as session:
            return hot_channels.anonymous_file(session, login, label, subdir, name)

    def _look_up(self, login: str, label: str, subdir: str) -> Any:
        with self.sessions() as session:
            return hot_channels.anonymous_subdir(session, login, label, subdir)


#: the request headers the hot path reads
_READ = frozenset({b"accept-encoding", b"if-none-match", b"if-modified-since", b"range"})


def _request_headers(scope: dict[str, Any]) -> dict[str, str] | None:
    """The headers the hot path reads; None when the request carries credentials (a token
    in the path, any Authorization header): the routes find out who it is."""
    if scope.get("state", {}).get("path_token"):
        return None
    read: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name == b"authorization":
            return None
        if name in _READ:
            read[name.decode()] = value.decode("latin-1")
    return read


#: answers' headers as sent, by what they are made of (never the bodies: they stay in the
#: channel cache's memory budget)
_RAW_HEADERS: dict[tuple[Any, ...], tuple[tuple[bytes, bytes], ...]] = {}


def _raw_headers(
    artifact: Artifact, chosen: Representation, with_body: bool
) -> tuple[tuple[bytes, bytes], ...]:
    """A document's answer's headers as sent (the same for every anonymous caller)."""
    made_of = (artifact.etag, artifact.last_modified, artifact.media_type, artifact.immutable)
    made_of += (len(artifact.body), chosen.etag, len(chosen.body), with_body)
    raw = _RAW_HEADERS.get(made_of)
    if raw is None:
        headers = document_headers(artifact, chosen, True, "Authorization")
        if with_body:
            headers["Content-Type"] = artifact.media_type
            headers["Content-Length"] = str(len(chosen.body))
        raw = encoded(headers)
        if len(_RAW_HEADERS) >= 1024:
            _RAW_HEADERS.clear()
        _RAW_HEADERS[made_of] = raw
    return raw


async def _send(
    send: Any, status: int, headers: tuple[tuple[bytes, bytes], ...], body: bytes | None
) -> None:
    """Headers, then the body (None: none, as for a HEAD or a 304) in slices, as the
    routes send large documents: a slow client holds one slice at most."""
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})
    view = memoryview(body or b"")
    for start in range(0, len(view), CHUNK):
        more = start + CHUNK < len(view)
        part = view[start : start + CHUNK]
        await send({"type": "http.response.body", "body": part, "more_body": more})
    if not view:
        await send({"type": "http.response.body", "body": b""})
