"""A static file server on 127.0.0.1 for tests: serves a folder, logs requests, may ask
for a token in the path (``.../t/<token>/...``) the way Anaconda.org does, answers
``Range: bytes=N-`` requests with 206 (unless ``ranges=False``, like a server that ignores
them) and can drop the connection partway through a file, as a flaky network does."""

from __future__ import annotations

import contextlib
import functools
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class StaticServer:
    url: str
    requests: list[tuple[str, int]] = field(default_factory=list)  #: (path, status)
    #: (path, Range header) of every request that sent a Range header
    ranges: list[tuple[str, str]] = field(default_factory=list)
    #: path -> bytes of the body to send before dropping the connection; used once per path
    drop_after: dict[str, int] = field(default_factory=dict)


class _Handler(SimpleHTTPRequestHandler):
    server_state: StaticServer
    token: str | None
    ranges: bool

    def do_GET(self) -> None:
        if self.token is not None:
            marker = f"/t/{self.token}/"
            if marker not in self.path:
                self.send_error(401 if "/t/" not in self.path else 403)
                return
            self.path = self.path.replace(marker, "/", 1)
        wanted = self.headers.get("Range")
        if wanted:
            self.server_state.ranges.append((self.path, wanted))
        file = Path(self.translate_path(self.path))
        ours = (wanted and self.ranges) or self.path in self.server_state.drop_after
        if ours and file.is_file():
            self._send_file(file.read_bytes(), wanted if self.ranges else None)
        else:  # the standard handler: directories, 404s, If-Modified-Since, no ranges
            super().do_GET()

    def _send_file(self, data: bytes, wanted: str | None) -> None:
        start = self._range_start(wanted, len(data))
        if start is None:
            self.send_error(416)
            return
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = self.server_state.drop_after.pop(self.path, None)
        if cut is None:
            self.wfile.write(body)
            return
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)  # the rest never arrives
        self.close_connection = True

    def _range_start(self, wanted: str | None, size: int) -> int | None:
        """Where the body starts: 0 without a usable Range, None when it is unsatisfiable."""
        match = _RANGE.match(wanted or "")
        if match is None:
            return 0
        start = int(match.group(1))
        return start if start < size else None

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server_state.requests.append((self.path, int(code) if str(code).isdigit() else 0))

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_directory(
    root: Path, token: str | None = None, *, ranges: bool = True
) -> Iterator[StaticServer]:
    state = StaticServer(url="")
    handler = type(
        "Handler", (_Handler,), {"server_state": state, "token": token, "ranges": ranges}
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    # a short poll interval: shutting down waits for it, and tests start many servers
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_in_process(command: Callable[[int], list[str]], timeout: float = 10) -> Iterator[str]:
    """Run ``command(port)`` (a server for a free port) in another process, so that it
    shares no GIL with the code measured; yield its URL once it accepts connections."""
    port = free_port()
    process = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server {command(port)} did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait()


def headers(token: str | None) -> dict[str, str]:
    """The Authorization header of ``token`` (none without one)."""
    return {"Authorization": f"token {token}"} if token else {}
