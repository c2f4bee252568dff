"""The hot path: what channels serve most, answered before the router.

conda, pixi and mirrors ask for ``/conda/<owner>[/label/<label>]/<subdir>/repodata.json``
(and its ``.zst``, ``current_repodata.json``, the shard index and shards) far more than
for anything else, and mostly anonymously. Such a request, without a token (no
``Authorization`` header, no ``/t/<token>/``), is answered here from the channel cache's
memory (package files from their local storage): where the anonymous view's documents
are kept is looked up once
(:mod:`ophis.server.services.hot_channels`, with the routes' own authorization) and reused
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

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response

from ophis.core.shards import SHARDS_DIR
from ophis.server.conda.responses import (
    BINARY,
    CHUNK,
    cache_control,
    document_headers,
    not_modified,
)
from ophis.server.context import ServerContext
from ophis.server.services import hot_channels, repodata
from ophis.server.services.channel_changes import change_counter
from ophis.server.services.encodings import Representation, held_representation, representation
from ophis.server.services.files import MAIN

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

    def __init__(self, app: Any, context: ServerContext) -> None:
        self.app = app
        settings = self.settings = context.settings
        self.sessions, self.storage = context.sessions, context.storage
        self.cache = repodata.channel_cache(settings.cache_dir / "channels")
        counter = change_counter(settings.data_dir)
        self.lookups = hot_channels.Lookups(counter, settings.hot_path_seconds)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in _GET_HEAD:
            match = _SUBDIR_FILE.match(scope["path"])
            if (
                match is not None
                and not _has_credentials(scope)
                and await self._answer(scope, receive, send, match)
            ):
                return
        await self.app(scope, receive, send)

    async def _answer(
        self, scope: dict[str, Any], receive: Any, send: Any, match: re.Match[str]
    ) -> bool:
        """Answer from memory, or say (False) that the routes must."""
        name = match["name"]
        if not match["shards"] and name.endswith(PACKAGE_SUFFIXES):
            return await self._package_file(scope, receive, send, match)
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
        headers = Headers(scope=scope)
        accept_encoding = headers.get("accept-encoding", "")
        chosen = held_representation(self.cache, artifact, accept_encoding)
        if chosen is None:  # a coding not made yet: made once, in a thread
            chosen = await asyncio.to_thread(representation, self.cache, artifact, accept_encoding)
        answer = document_headers(artifact, chosen, True, "Authorization")
        if not_modified(headers, artifact.etag, artifact.last_modified):
            await _send(send, 304, answer, None, scope["method"])
        else:
            answer["Content-Type"] = artifact.media_type
            await _send(send, 200, answer, chosen, scope["method"])
        return True

    async def _package_file(
        self, scope: dict[str, Any], receive: Any, send: Any, match: re.Match[str]
    ) -> bool:
        """A local package file anyone may download, sent as the routes send it (its
        download counted, Range answered); the routes hand files to a proxy in front."""
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
        path = None if download is None else self.storage.local_path(download.storage_key)
        if path is None or download.file_id is None:
            return False
        if scope["method"] == "GET":
            await asyncio.to_thread(self._count, download.file_id)
        etag = f'"{download.sha256}"'
        headers = {"ETag": etag, "Cache-Control": cache_control(True), "Vary": "Authorization"}
        response: Response
        if not_modified(Headers(scope=scope), etag, None):
            response = Response(status_code=304, headers=headers)
        else:
            response = FileResponse(path, media_type=BINARY, headers=headers)
        await response(scope, receive, send)
        return True

    def _look_up_file(self, login: str, label: str, subdir: str, name: str) -> Any:
        with self.sessions() as session:
            return hot_channels.anonymous_file(session, login, label, subdir, name)

    def _count(self, file_id: int) -> None:
        with self.sessions() as session:
            hot_channels.count_download(session, file_id)

    def _look_up(self, login: str, label: str, subdir: str) -> Any:
        with self.sessions() as session:
            return hot_channels.anonymous_subdir(session, login, label, subdir)


def _has_credentials(scope: dict[str, Any]) -> bool:
    """A token in the path or any Authorization header: the routes find out who it is."""
    if scope.get("state", {}).get("path_token"):
        return True
    return any(name == b"authorization" for name, _ in scope["headers"])


async def _send(
    send: Any, status: int, headers: dict[str, str], body: Representation | None, method: str
) -> None:
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    if body is None:
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b""})
        return
    raw.append((b"content-length", str(len(body.body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    if method == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    # in slices, as the routes send large documents: a slow client holds one at most
    view = memoryview(body.body)
    for start in range(0, len(view), CHUNK):
        more = start + CHUNK < len(view)
        part = view[start : start + CHUNK]
        await send({"type": "http.response.body", "body": part, "more_body": more})
    if not view:
        await send({"type": "http.response.body", "body": b""})
