"""Adversarial: password guessing meets one limit, whichever way it signs in (the web
form, Basic auth on ``POST /api/authentications``, the password form), counted per login
and client address; proxy headers name the client only when a configured proxy sends them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.testing.server import PASSWORD, RunningServer, run_server
from ophis.testing.server_db import add_user
from ophis.testing.web import WebClient

ATTEMPTS, WINDOW, SPRAY = 3, 600, 4
LIMITED = "Too many failed sign-ins for this account from your address."
#: what an attacker adds to each request to look like someone new
SPOOFS = (
    {"X-Forwarded-For": "203.0.113.7"},
    {"Forwarded": "for=198.51.100.9"},
    {"X-Real-IP": "192.0.2.44"},
    {"X-Forwarded-For": "127.0.0.1"},
)


def start(folder: Path, settings: str = "") -> Iterator[RunningServer]:
    data = folder / "data"
    data.mkdir()
    (data / "server.toml").write_text(
        f"sign_in_attempts = {ATTEMPTS}\nsign_in_window = {WINDOW}\n{settings}"
    )
    with run_server(data) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """No proxy trusted: the socket's peer is the client, whatever uvicorn's own setting
    in the environment says."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORWARDED_ALLOW_IPS", "*")
        yield from start(tmp_path_factory.mktemp("direct"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """Behind a proxy on this host, as ``trusted_proxies = "127.0.0.1"`` says; an address
    may fail SPRAY times across logins."""
    settings = f'trusted_proxies = "127.0.0.1"\nsign_in_address_attempts = {SPRAY}\n'
    yield from start(tmp_path_factory.mktemp("proxied"), settings)


def basic(
    server: RunningServer, login: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(
        f"{server.api}/authentications",
        auth=(login, password),
        json={"note": "guess"},
        headers=headers or {},
    )


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert LIMITED in response.text
    assert 0 < int(response.headers["retry-after"]) <= WINDOW


def test_basic_auth_on_the_api_is_limited(server: RunningServer) -> None:
    add_user(server, "amy")
    for _ in range(ATTEMPTS):
        refused = basic(server, "amy", "guess-guess")
        assert refused.status_code == 401
        assert refused.json()["error"] == "Invalid Username password combination."
    # even the right password, until the window has passed
    limited = basic(server, "amy", PASSWORD)
    assert_limited(limited)
    assert "Wait 10 minutes" in limited.json()["remedy"]
    # amy's attacker does not lock out others from the same address
    add_user(server, "ben")
    assert basic(server, "ben", PASSWORD).status_code == 200


def test_the_web_form_and_the_api_share_one_limit(server: RunningServer) -> None:
    add_user(server, "cleo")
    browser = WebClient(server)
    assert basic(server, "cleo", "guess-one").status_code == 401
    assert browser.sign_in("cleo", "guess-two").status_code == 401
    assert basic(server, "cleo", "guess-three").status_code == 401
    assert_limited(browser.sign_in("cleo"))
    assert_limited(basic(server, "cleo", PASSWORD))


def test_the_password_form_is_limited_too(server: RunningServer) -> None:
    add_user(server, "dora")
    browser = WebClient(server)
    assert browser.sign_in("dora").status_code == 303
    change = {"new": "a-new-password", "confirm": "a-new-password"}
    for _ in range(ATTEMPTS):
        wrong = browser.post(
            "/settings/password", {"current": "guess", **change}, page="/settings/profile"
        )
        assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
    right = browser.post(
        "/settings/password", {"current": PASSWORD, **change}, page="/settings/profile"
    )
    assert_limited(right)
    # a stolen session's guesses also lock the API login from that address
    assert_limited(basic(server, "dora", PASSWORD))


def test_proxy_headers_neither_dodge_nor_reset_the_limit(server: RunningServer) -> None:
    add_user(server, "edna")
    browser = WebClient(server)
    for spoof in SPOOFS[:ATTEMPTS]:
        assert basic(server, "edna", "guess-guess", spoof).status_code == 401
    for spoof in SPOOFS:
        assert_limited(basic(server, "edna", PASSWORD, spoof))
        token = browser.csrf("/login")
        form = {"login": "edna", "password": PASSWORD, "csrf_token": token}
        assert_limited(browser.http.post("/login", data=form, headers=spoof))
    # nor are they believed anywhere else: a token records the socket's peer
    add_user(server, "fay")
    made = basic(server, "fay", PASSWORD, {"X-Forwarded-For": "203.0.113.7"})
    assert made.status_code == 200 and made.json()["remote_addr"] == "127.0.0.1"


def test_a_trusted_proxy_names_the_client(proxied: RunningServer) -> None:
    add_user(proxied, "gail")
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(ATTEMPTS):
        assert basic(proxied, "gail", "guess-guess", attacker).status_code == 401
    assert_limited(basic(proxied, "gail", PASSWORD, attacker))
    # the attacker's address is locked out, gail's own is not
    made = basic(proxied, "gail", PASSWORD, {"X-Forwarded-For": "198.51.100.20"})
    assert made.status_code == 200 and made.json()["remote_addr"] == "198.51.100.20"
    # a client's own X-Forwarded-For before the proxy's entry changes nothing: the proxy
    # appends the address it saw, and that is the one counted
    chained = {"X-Forwarded-For": "198.51.100.20, 203.0.113.7"}
    assert_limited(basic(proxied, "gail", PASSWORD, chained))


def test_one_address_spraying_many_logins_is_limited(proxied: RunningServer) -> None:
    sprayer = {"X-Forwarded-For": "203.0.113.99"}
    victims = [f"victim{n}" for n in range(SPRAY + 1)]
    for login in victims:
        add_user(proxied, login)
    for login in victims[:SPRAY]:
        assert basic(proxied, login, "Summer2026!", sprayer).status_code == 401
    limited = basic(proxied, victims[SPRAY], PASSWORD, sprayer)
    assert limited.status_code == 429
    assert "Too many failed sign-ins from your address." in limited.text
    assert 0 < int(limited.headers["retry-after"]) <= WINDOW
    elsewhere = basic(proxied, victims[SPRAY], PASSWORD, {"X-Forwarded-For": "198.51.100.3"})
    assert elsewhere.status_code == 200


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("10.0.0.0/8, proxy.example", "trusted_proxies: 'proxy.example' is not an IP address"),
        ("*", "trusted_proxies = '*' would let any client choose its own address."),
    ],
)
def test_a_bad_trusted_proxies_entry_stops_the_server(
    tmp_path: Path, entry: str, message: str
) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "ophis", "server", "start", "--data-dir", str(tmp_path)],
        env=dict(os.environ, OPHIS_TRUSTED_PROXIES=entry),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert started.returncode != 0 and message in started.stderr + started.stdout
