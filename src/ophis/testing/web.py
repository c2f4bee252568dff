"""A browser's view of the web site over plain HTTP for tests: a cookie jar, the CSRF token
of the last page, forms posted as a browser posts them, and the text a reader sees."""

from __future__ import annotations

import re

import httpx

from ophis.testing.server import PASSWORD, RunningServer

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebClient:
    """One browser: keeps cookies, never follows redirects (tests look at them)."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)

    def get(self, path: str, **params: object) -> httpx.Response:
        # no params=: httpx would drop a query written into ``path``
        return self.http.get(path, params=params) if params else self.http.get(path)

    def csrf(self, page: str = "/login") -> str:
        """The CSRF token the forms of ``page`` carry."""
        match = _CSRF.search(self.get(page).text)
        assert match, f"{page} has no form with a CSRF token"
        return match.group(1)

    def post(self, path: str, data: dict[str, object], *, page: str = "/login") -> httpx.Response:
        """Post a form as the browser would, with the token of a page it showed."""
        return self.http.post(path, data={"csrf_token": self.csrf(page), **data})

    def sign_up(self, login: str, password: str = PASSWORD, **fields: str) -> httpx.Response:
        form = {"login": login, "password": password, "confirm": password, **fields}
        return self.post("/signup", form, page="/signup")

    def sign_in(self, login: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/login", {"login": login, "password": password}, page="/login")

    def sign_out(self) -> httpx.Response:
        return self.post("/logout", {})

    def open_user_content(self, path: str) -> httpx.Client:
        """A browser of the user-content origin signed in to the app at ``path`` the way
        the site hands it over: the site's redirect with a ticket, redeemed there."""
        handed = self.get(path)
        assert handed.status_code == 303, handed.text
        client = httpx.Client(
            base_url=self.server.user_content_url, follow_redirects=False, timeout=30
        )
        entered = client.get(handed.headers["location"])
        assert entered.status_code == 303, entered.text
        return client

    def close(self) -> None:
        self.http.close()


def signed_in(server: RunningServer, login: str) -> WebClient:
    """A browser signed in as ``login`` (signed up first when new)."""
    client = WebClient(server)
    client.sign_up(login)
    response = client.sign_in(login)
    assert response.status_code == 303, response.text
    return client


def text_of(response: httpx.Response) -> str:
    """The page's text without tags, for assertions on what a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text))
