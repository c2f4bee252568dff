"""Signing up, in and out of the web site over HTTP: cookies, server-side sessions, CSRF
checks on every form, the sign-in limit, and sign-up switched off."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from ophis.server.db.models import WebSession, utcnow
from ophis.testing.server import PASSWORD, RunningServer, run_server
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

FORM_EXPIRED = "The form expired or came from another site; reload and try again."


def cookie_header(response: httpx.Response, name: str) -> str:
    found = [v for v in response.headers.get_list("set-cookie") if v.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {response.headers}"
    return found[0]


def test_sign_up_sign_in_and_out(browser: WebClient, database: ServerDatabase) -> None:
    created = browser.sign_up("carol", name="Carol Example", email="carol@example.org")
    assert created.status_code == 303
    assert created.headers["location"] == "/login?created=carol"
    assert "Your account carol was created" in browser.get("/login", created="carol").text

    response = browser.sign_in("carol")
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = cookie_header(response, "ophis_session").lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "max-age=43200" in cookie  # the default 12 h limit
    assert "secure" not in cookie  # plain http: a Secure cookie would never come back
    secret = browser.http.cookies["ophis_session"]
    with database.context.sessions() as session:
        rows = list(session.scalars(select(WebSession)))
    # only the secret's hash is kept
    assert hashlib.sha256(secret.encode()).hexdigest() in {row.id for row in rows}
    assert secret not in {row.id for row in rows}

    home = browser.get("/")
    assert ">carol</a>" in home.text and "Sign out" in home.text
    assert browser.get("/settings/profile").status_code == 200

    out = browser.sign_out()
    assert out.status_code == 303
    assert 'ophis_session=""' in cookie_header(out, "ophis_session")
    # the old cookie is dead on the server too, not just dropped by the browser
    replay = httpx.get(f"{browser.server.url}/settings/profile", cookies={"ophis_session": secret})
    assert replay.status_code == 303
    assert replay.headers["location"] == "/login?next=%2Fsettings%2Fprofile"


def test_cookies_are_secure_behind_https(browser: WebClient, server: RunningServer) -> None:
    """Behind a TLS-terminating proxy on the same host (uvicorn trusts 127.0.0.1's
    X-Forwarded-Proto) the cookies are Secure ``__Host-`` ones: no other host can set them."""
    browser.sign_up("dave")
    https = {"X-Forwarded-Proto": "https"}
    page = httpx.get(f"{server.url}/login", headers=https)
    csrf = cookie_header(page, "__Host-ophis_csrf")
    assert "secure" in csrf.lower() and "path=/" in csrf.lower()
    response = httpx.post(
        f"{server.url}/login",
        data={
            "login": "dave",
            "password": PASSWORD,
            "csrf_token": page.cookies["__Host-ophis_csrf"],
        },
        headers={**https, "Cookie": f"__Host-ophis_csrf={page.cookies['__Host-ophis_csrf']}"},
    )
    assert response.status_code == 303
    assert "secure" in cookie_header(response, "__Host-ophis_session").lower()


def test_forms_without_the_right_csrf_token_are_refused(server: RunningServer) -> None:
    anonymous = WebClient(server)
    anonymous.sign_up("erin")
    form = {"login": "erin", "password": PASSWORD}
    for data in (form, {**form, "csrf_token": "x" * 43}):
        refused = anonymous.http.post("/login", data=data)
        assert refused.status_code == 403
        assert FORM_EXPIRED in refused.text
        assert "text/html" in refused.headers["content-type"]
    # another site's post carries the victim's cookies but cannot know the token
    erin = signed_in(server, "erin")
    forged = httpx.post(
        f"{server.url}/settings/tokens",
        data={"name": "stolen", "expiry": "30d", "scopes": "all"},
        cookies=dict(erin.http.cookies),
    )
    assert forged.status_code == 403 and FORM_EXPIRED in forged.text
    for path in (
        "/logout",
        "/settings/profile",
        "/settings/password",
        "/admin/anything/visibility",
    ):
        assert erin.http.post(path, data={"csrf_token": "wrong"}).status_code == 403, path
    # a token of the anonymous visitor is not the signed-in session's
    anonymous_token = anonymous.csrf("/login")
    wrong_session = erin.http.post(
        "/settings/profile", data={"name": "Mallory", "csrf_token": anonymous_token}
    )
    assert wrong_session.status_code == 403
    assert erin.get("/").status_code == 200  # still signed in
    assert "stolen" not in erin.get("/settings/tokens").text


def test_sign_in_is_limited_per_address_and_login(server: RunningServer) -> None:
    client = WebClient(server)
    client.sign_up("frank")
    for _ in range(10):
        refused = client.sign_in("frank", "not-the-password")
        assert refused.status_code == 401
        assert "Invalid Username password combination." in refused.text
    limited = client.sign_in("frank")  # even the right password, until the window passes
    assert limited.status_code == 429
    assert "Too many failed sign-ins" in text_of(limited)
    # others are not locked out by frank's attacker
    client.sign_up("grace")
    assert client.sign_in("grace").status_code == 303


def test_an_expired_session_signs_no_one_in(
    server: RunningServer, database: ServerDatabase
) -> None:
    henry = signed_in(server, "henry")
    assert henry.get("/settings/tokens").status_code == 200
    with database.context.sessions() as session:
        for row in session.scalars(select(WebSession)):
            if row.account.login == "henry":
                row.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    expired = henry.get("/settings/tokens")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")
    home = henry.get("/")
    assert "Sign in" in home.text
    assert 'ophis_session=""' in cookie_header(home, "ophis_session")  # the stale cookie goes


def test_changing_the_password_ends_other_sessions(server: RunningServer) -> None:
    laptop = signed_in(server, "irene")
    phone = WebClient(server)
    phone.sign_in("irene")
    wrong = laptop.post(
        "/settings/password",
        {"current": "nope-nope-nope", "new": "new-password-1", "confirm": "new-password-1"},
        page="/settings/profile",
    )
    assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
    changed = laptop.post(
        "/settings/password",
        {"current": PASSWORD, "new": "new-password-1", "confirm": "new-password-1"},
        page="/settings/profile",
    )
    assert changed.status_code == 200 and "your other sign-ins were ended" in changed.text
    assert laptop.get("/settings/profile").status_code == 200
    assert phone.get("/settings/profile").status_code == 303
    assert phone.sign_in("irene", "new-password-1").status_code == 303


def test_sign_up_refuses_reserved_and_taken_names(browser: WebClient) -> None:
    for login, message in (
        ("search", "'search' is reserved by the server."),
        ("signup", "'signup' is reserved by the server."),
        ("admin", "The name 'admin' is taken."),
    ):
        refused = browser.sign_up(login)
        assert refused.status_code in (400, 409), login
        assert message in text_of(refused).replace("&#39;", "'"), login
    mismatch = browser.post(
        "/signup", {"login": "jack", "password": PASSWORD, "confirm": "other"}, page="/signup"
    )
    assert mismatch.status_code == 400 and "The two passwords differ." in mismatch.text


@pytest.fixture(scope="module")
def closed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data: Path = tmp_path_factory.mktemp("closed") / "data"
    with run_server(data, "--no-signup") as running:
        yield running


def test_sign_up_can_be_switched_off(closed_server: RunningServer) -> None:
    client = WebClient(closed_server)
    page = client.get("/signup")
    assert "Sign-up is turned off on this server." in page.text
    assert 'href="/signup"' not in client.get("/").text
    refused = client.post("/signup", {"login": "kim", "password": PASSWORD, "confirm": PASSWORD})
    assert refused.status_code == 403
    assert client.sign_in("kim").status_code == 401
    assert client.sign_in(closed_server.admin, closed_server.password).status_code == 303
