"""A static file server on 127.0.0.1 for tests: serves a folder, logs requests, may ask
for a token in the path (``.../t/<token>/...``) the way Anaconda.org does."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class StaticServer:
    url: str
    requests: list[tuple[str, int]] = field(default_factory=list)  #: (path, status)


class _Handler(SimpleHTTPRequestHandler):
    server_state: StaticServer
    token: str | None

    def do_GET(self) -> None:
        if self.token is not None:
            marker = f"/t/{self.token}/"
            if marker not in self.path:
                self.send_error(401 if "/t/" not in self.path else 403)
                return
            self.path = self.path.replace(marker, "/", 1)
        super().do_GET()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server_state.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_directory(root: Path, token: str | None = None) -> Iterator[StaticServer]:
    state = StaticServer(url="")
    handler = type("Handler", (_Handler,), {"server_state": state, "token": token})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
