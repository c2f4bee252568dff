"""Webhooks in tests: a server whose sender looks often and retries soon, a receiver on
127.0.0.1 that records what it gets, and the settings-page form that makes a hook."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ophis.testing.http import headers
from ophis.testing.server import PASSWORD, RunningServer, run_server
from ophis.testing.web import WebClient

SECRET = "a-webhook-secret"


@contextmanager
def webhook_server(folder: Path) -> Iterator[RunningServer]:
    """A server whose sender looks often and retries soon."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OPHIS_WEBHOOK_POLL", "0.2")
        patch.setenv("OPHIS_WEBHOOK_BACKOFF", "0.2")
        with run_server(folder / "data") as running:
            yield running


@dataclass
class Received:
    event: str
    delivery: str
    signature: str
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records the POSTs it gets; answers them with ``statuses`` in turn, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.received) >= count, self.received
        return self.received


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A :class:`Receiver` listening on 127.0.0.1 at its ``url``."""
    record = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = self.headers
            record.received.append(
                Received(
                    headers["X-Ophis-Event"],
                    headers["X-Ophis-Delivery"],
                    headers["X-Ophis-Signature-256"],
                    body,
                )
            )
            self.send_response(record.statuses.pop(0) if record.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{http.server_port}/hook"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield record
    finally:
        http.shutdown()
        http.server_close()


def create_hook(browser: WebClient, owner: str, url: str, **form: object) -> httpx.Response:
    """Make a hook on the settings page (all events, :data:`SECRET`); ``form`` overrides."""
    data = {"owner": owner, "url": url, "secret": SECRET, "events": ["upload", "label", "remove"]}
    return browser.post("/settings/webhooks", {**data, **form}, page="/settings/webhooks")


def signed(received: Received) -> bool:
    """Whether a delivery carries the signature :data:`SECRET` makes of its body."""
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.signature)


def api(server: RunningServer, login: str) -> httpx.Client:
    """An API client with a new token of ``login`` (password :data:`PASSWORD`)."""
    token = server.login(login, PASSWORD)
    return httpx.Client(base_url=server.api, headers=headers(token))
