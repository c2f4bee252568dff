"""What a superuser does to accounts on the administration page: reset a password (given
or generated) and disable or enable a user. Everyone else gets the site's 404."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.web import WebClient, signed_in, text_of

ADMIN = "/settings/admin"
NEW_PASSWORD = "a-brand-new-password"


@pytest.fixture
def superuser(server: RunningServer) -> Iterator[WebClient]:
    client = WebClient(server)
    assert client.sign_in(server.admin, server.password).status_code == 303
    yield client
    client.close()


def act(browser: WebClient, login: str, action: str, **form: object) -> httpx.Response:
    return browser.post(f"{ADMIN}/users/{login}/{action}", form, page="/settings/profile")


def can_sign_in(server: RunningServer, login: str, password: str) -> bool:
    browser = WebClient(server)
    try:
        return browser.sign_in(login, password).status_code == 303
    finally:
        browser.close()


def signed_out(browser: WebClient) -> bool:
    """The browser's session no longer signs it in: settings send it to sign in."""
    page = browser.get("/settings/profile")
    return page.status_code == 303 and "/login" in page.headers["location"]


def test_a_reset_to_a_given_password_ends_the_old_one_and_the_sessions(
    server: RunningServer, superuser: WebClient
) -> None:
    pia = signed_in(server, "pia")
    assert not signed_out(pia)
    reset = act(superuser, "pia", "password", password=NEW_PASSWORD)
    assert reset.status_code == 200
    assert "The password of pia was reset" in text_of(reset)
    assert 'id="new-password"' not in reset.text  # the admin chose it: nothing to show
    assert signed_out(pia)
    assert not can_sign_in(server, "pia", PASSWORD)
    assert can_sign_in(server, "pia", NEW_PASSWORD)
    pia.close()


def test_a_generated_password_is_shown_once(server: RunningServer, superuser: WebClient) -> None:
    signed_in(server, "quinn").close()
    reset = act(superuser, "quinn", "password", password="")
    match = re.search(r'id="new-password">([^<]+)<', reset.text)
    assert reset.status_code == 200 and match
    generated = html.unescape(match.group(1))
    assert generated not in superuser.get(ADMIN).text
    assert can_sign_in(server, "quinn", generated)
    assert not can_sign_in(server, "quinn", PASSWORD)


def test_a_weak_password_and_ones_own_account_are_refused(
    server: RunningServer, superuser: WebClient
) -> None:
    signed_in(server, "rudy").close()
    weak = act(superuser, "rudy", "password", password="short")
    assert weak.status_code == 400
    assert "The password is too short (5 characters)." in text_of(weak)
    assert can_sign_in(server, "rudy", PASSWORD)
    for action in ("password", "disable"):
        own = act(superuser, server.admin, action, password=NEW_PASSWORD)
        assert own.status_code == 400 and "your own account" in text_of(own)
    assert not signed_out(superuser)
    assert can_sign_in(server, server.admin, server.password)


def test_a_disabled_user_is_signed_out_until_enabled(
    server: RunningServer, superuser: WebClient
) -> None:
    sam = signed_in(server, "sam")
    disabled = act(superuser, "sam", "disable", page=1)
    assert disabled.status_code == 303
    assert re.search(r"sam \S+ \S+ UTC yes no 0 ", text_of(superuser.get(ADMIN)))
    assert signed_out(sam)
    assert not can_sign_in(server, "sam", PASSWORD)
    assert act(superuser, "sam", "enable").status_code == 303
    assert can_sign_in(server, "sam", PASSWORD)
    sam.close()


def test_no_one_but_a_superuser_may_act(server: RunningServer, superuser: WebClient) -> None:
    victim = signed_in(server, "tess")
    eve = signed_in(server, "eve")
    anonymous = WebClient(server)
    for browser in (eve, anonymous):
        for action in ("password", "disable"):
            page = "/settings/profile" if browser is eve else "/login"
            refused = browser.post(
                f"{ADMIN}/users/tess/{action}", {"password": NEW_PASSWORD}, page=page
            )
            assert refused.status_code == 404 and "tess" not in refused.text
    forged = superuser.http.post(f"{ADMIN}/users/tess/disable", data={})
    assert forged.status_code == 403
    assert not signed_out(victim)
    assert can_sign_in(server, "tess", PASSWORD)
    for browser in (victim, eve, anonymous):
        browser.close()
