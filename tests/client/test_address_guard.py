"""Requests a server makes for its users reach public addresses only, or the networks the
operator allowed: checked at each connection, redirects included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from ophis.client.address_guard import guarded_transport
from ophis.core.addresses import parse_networks

LOOPBACK = parse_networks("127.0.0.0/8")


class _Target:
    """Servers on 127.0.0.1 and 127.0.0.2 recording the paths that reach them; ``/away``
    on the first redirects to the second."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.port = self.inner_port = 0


def _listen(address: str, seen: _Target) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.hits.append(self.path)
            if self.path == "/away":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.2:{seen.inner_port}/inside")
            else:
                self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    http = ThreadingHTTPServer((address, 0), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    return http


@pytest.fixture(scope="module")
def target() -> Iterator[_Target]:
    seen = _Target()
    servers = [_listen("127.0.0.1", seen), _listen("127.0.0.2", seen)]
    seen.port, seen.inner_port = (http.server_port for http in servers)
    yield seen
    for http in servers:
        http.shutdown()
        http.server_close()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "127.1", "2130706433", "0x7f000001", "0.0.0.0"]
)
def test_a_loopback_address_in_any_spelling_is_never_reached(target: _Target, host: str) -> None:
    before = len(target.hits)
    with (
        httpx.Client(transport=guarded_transport(())) as client,
        pytest.raises(httpx.ConnectError, match="own network"),
    ):
        client.get(f"http://{host}:{target.port}/secret")
    assert len(target.hits) == before


def test_an_allowed_network_is_reached_and_a_redirect_out_of_it_is_not(target: _Target) -> None:
    seen, port = target, target.port
    only_one = parse_networks("127.0.0.1")
    with httpx.Client(transport=guarded_transport(only_one), follow_redirects=True) as client:
        assert client.get(f"http://127.0.0.1:{port}/fine").status_code == 200
        with pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.2"):
            client.get(f"http://127.0.0.1:{port}/away")
    assert "/inside" not in seen.hits
    with httpx.Client(transport=guarded_transport(LOOPBACK), follow_redirects=True) as client:
        assert client.get(f"http://127.0.0.1:{port}/away").status_code == 200
    assert "/inside" in seen.hits


def test_link_local_and_private_addresses_are_refused_before_any_connection() -> None:
    with httpx.Client(transport=guarded_transport(()), timeout=2) as client:
        for url in (
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://[::1]/",
        ):
            with pytest.raises(httpx.ConnectError, match="own network"):
                client.get(url)
