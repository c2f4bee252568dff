"""A deployment never shares an origin with the site's sessions: a hostile app, deployed
public, is served on the user-content origin, where its script cannot read or post to the
site with a visitor's cookies, cannot set the site's cookies, and never sees an Ophis
cookie or token; private deployments still open to their callers (a token, or a browser
the site hands over with a one-time ticket)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.sync.client import connect

from ophis.indexer.channel_index import index_channel
from ophis.server.app import create_app
from ophis.server.services.accounts import accounts
from ophis.server.settings import ServerSettings
from ophis.testing.browser import WIDE, chromium
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import ok_json, ophis
from ophis.testing.polling import eventually
from ophis.testing.server import RunningServer, admin_user
from ophis.testing.user_code import (
    ATTACK_THE_SITE,
    NOT_ROOT,
    user_code_server,
)
from ophis.testing.web import WebClient, signed_in

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="linux-64 channel"),
    pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT),
]


#: the hostile app: echoes what reaches it, tries to plant the site's session cookie (the
#: value in ?fix=), and its page's script attacks the site (at ?site=)
HOSTILE_APP = r'''
import base64, hashlib, json, os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlsplit

PAGE = """<!doctype html><title>hostile</title><pre id="out">running</pre><script>
const site = new URLSearchParams(location.search).get("site");
(ATTACK)(site).then((report) => { document.getElementById("out").textContent = report; });
</script>"""


class App(BaseHTTPRequestHandler):
    def echo_one_websocket_message(self):
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        self.protocol_version, self.close_connection = "HTTP/1.1", True
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        _, size = self.rfile.read(2)  # a short, masked text frame from the client
        mask = self.rfile.read(4)
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(size & 0x7F)))
        reply = json.dumps({"message": data.decode(), "cookie": self.headers["Cookie"]})
        body = reply.encode()
        self.wfile.write(bytes([0x81, 126]) + len(body).to_bytes(2, "big") + body)

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self.echo_one_websocket_message()
        url = urlsplit(self.path)
        if url.path.endswith("/echo"):
            body, kind = json.dumps(dict(self.headers.items())).encode(), "application/json"
        else:
            body, kind = PAGE.encode(), "text/html"
        fix = parse_qs(url.query).get("fix", ["x"])[0]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        for cookie in (f"ophis_session={fix}; Path=/", f"=ophis_session={fix}; Path=/",
                       "ophis_csrf=planted; Path=/", "app_cookie=kept; Path=/"):
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(body)


HTTPServer(("127.0.0.1", int(os.environ["PORT"])), App).serve_forever()
'''.replace("(ATTACK)", f"({ATTACK_THE_SITE})")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with user_code_server(tmp_path_factory.mktemp("user-content") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def owner(tmp_path_factory: pytest.TempPathFactory, server: RunningServer) -> dict[str, str]:
    return admin_user(server, tmp_path_factory.mktemp("owner"))


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, server: RunningServer, owner: dict[str, str]
) -> str:
    """The hostile app, deployed public; its address on the user-content origin."""
    channel = make_build_channel(tmp_path_factory.mktemp("channel"))
    index_channel(channel)
    folder = tmp_path_factory.mktemp("projects") / "hostile"
    made = ophis(owner, "project", "init", str(folder), "-t", "python", "-c", channel.as_uri())
    assert made.returncode == 0, made.stderr
    (folder / "main.py").write_text(HOSTILE_APP)
    manifest = folder / "ophis.toml"
    manifest.write_text(manifest.read_text() + 'serve = "python main.py"\n')
    deploy = ["project", "deploy", "--path", str(folder), "--name", "hostile", "--json"]
    deployed = ok_json(ophis(owner, *deploy, "--server", server.url))
    assert deployed["url"].startswith(server.user_content_url)
    _access(owner, server, "--public")
    return deployed["url"]


def _access(owner: dict[str, str], server: RunningServer, *flags: str) -> None:
    ok_json(
        ophis(owner, "deployment", "access", "hostile", *flags, "--server", server.url, "--json")
    )


def _patch(server: RunningServer, owner: dict[str, str], **change: object) -> httpx.Response:
    return httpx.patch(
        f"{server.api}/deployments/{server.admin}/hostile",
        json=change,
        headers={"Authorization": f"token {owner['ANACONDA_API_TOKEN']}"},
    )


def test_the_site_never_serves_a_deployment(server: RunningServer, hostile: str) -> None:
    site = f"{server.url}/deployments/{server.admin}/hostile/echo?q=1"
    moved = httpx.get(site, headers={"Cookie": "ophis_session=whatever"})
    assert moved.status_code == 307
    assert moved.headers["location"] == f"{hostile}echo?q=1"
    assert "set-cookie" not in moved.headers


def test_the_app_never_sees_an_ophis_cookie_or_token(
    server: RunningServer, owner: dict[str, str], hostile: str
) -> None:
    token = owner["ANACONDA_API_TOKEN"]
    sent = {
        "Cookie": "ophis_session=s; ophis_csrf=c; ophis_app=a; __Host-ophis_session=h; own=1",
        "Authorization": f"token {token}",
    }
    seen = httpx.get(f"{hostile}echo", headers=sent).json()
    seen = {k.lower(): v for k, v in seen.items()}
    assert seen.get("cookie") == "own=1"
    assert "authorization" not in seen and token not in str(seen)


def test_a_websocket_reaches_the_app_through_the_proxy_without_ophis_cookies(
    server: RunningServer, hostile: str
) -> None:
    url = f"{hostile.replace('http', 'ws', 1)}socket"
    cookies = {"Cookie": "ophis_session=s; ophis_app=a; own=1"}
    with connect(url, additional_headers=cookies, open_timeout=10) as socket:
        socket.send("hello")
        seen = json.loads(socket.recv(timeout=10))
    assert seen == {"message": "hello", "cookie": "own=1"}


def test_the_app_cannot_set_the_sites_cookies_and_is_sandboxed(
    server: RunningServer, owner: dict[str, str], hostile: str
) -> None:
    answer = httpx.get(f"{hostile}page", params={"fix": "planted"})
    assert answer.status_code == 200
    assert answer.headers.get_list("set-cookie") == ["app_cookie=kept; Path=/"]
    policy = answer.headers["content-security-policy"]
    assert policy.startswith("sandbox allow-scripts") and "allow-same-origin" not in policy
    assert "frame-ancestors 'self'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    # its owner may narrow the sandbox, never give the app the user-content origin
    for escape in ("allow-scripts allow-same-origin", "off"):
        refused = _patch(server, owner, sandbox=escape)
        assert refused.status_code == 400 and "may not be set" in refused.json()["error"]
    assert _patch(server, owner, sandbox="allow-forms").status_code == 200
    narrowed = httpx.get(f"{hostile}page").headers["content-security-policy"]
    assert narrowed == "sandbox allow-forms; frame-ancestors 'self'"
    assert _patch(server, owner, sandbox="allow-scripts").status_code == 200


def test_a_visitors_browser_keeps_its_session_and_its_tokens(
    server: RunningServer, owner: dict[str, str], hostile: str, tmp_path: Path
) -> None:
    """In chromium: a signed-in visitor opens the app, which tries to read the site, post
    a token form and plant a session (mallory's, a real one): all fail. (Without the
    sandbox, on the notebooks' origin, the same script fails too: test_notebooks.)"""
    signed_in(server, "visitor").close()
    mallory = signed_in(server, "mallory")
    planted = mallory.http.cookies["ophis_session"]
    with chromium() as browser:
        context = browser.new_context(viewport=WIDE)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.fill("input[name=login]", "visitor")
        page.fill("input[name=password]", "a-password-for-tests")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        session = _site_session(context)
        page.goto(f"{hostile}page?site={server.url}&fix={planted}")
        page.wait_for_function("document.getElementById('out').textContent !== 'running'")
        report = page.inner_text("#out")
        page.screenshot(path=str(tmp_path / "hostile.png"))
        assert report == "read=blocked post=blocked cookie=blocked", report
        assert _site_session(context) == session
        assert_still_signed_in_without_stolen_token(page, server.url, "visitor")
    mallory.close()


def assert_still_signed_in_without_stolen_token(page: object, site: str, login: str) -> None:
    """The browser's site session is its own still, and no token was made with it."""
    shown = page.goto(f"{site}/settings/tokens")  # type: ignore[attr-defined]
    assert shown is not None and shown.status == 200
    content = page.content()  # type: ignore[attr-defined]
    assert login in content and "stolen" not in content


def _site_session(context: object) -> list[str]:
    cookies = context.cookies()  # type: ignore[attr-defined]
    return sorted(c["value"] for c in cookies if c["name"] == "ophis_session")


def test_a_private_deployment_opens_to_a_token_and_to_a_handed_over_browser(
    server: RunningServer, owner: dict[str, str], hostile: str
) -> None:
    _access(owner, server, "--private")
    page = {"Accept": "text/html"}
    # no credentials: an API caller is asked for a token, a browser goes to sign in
    assert httpx.get(f"{hostile}echo").status_code == 401
    to_site = httpx.get(f"{hostile}page", headers=page)
    assert to_site.status_code == 302
    assert to_site.headers["location"] == f"{server.url}/deployments/{server.admin}/hostile/page"
    # the site's session means nothing on the user-content origin
    admin = WebClient(server)
    admin.sign_in(server.admin, server.password)
    cookie = {"Cookie": f"ophis_session={admin.http.cookies['ophis_session']}"}
    assert httpx.get(f"{hostile}echo", headers=cookie).status_code == 401
    # a deployment token opens it
    made = ophis(owner, "deployment", "token", "create", "hostile", "--name", "api", "--json")
    bearer = {"Authorization": f"Bearer {ok_json(made)['token']}"}
    assert eventually(lambda: httpx.get(f"{hostile}echo", headers=bearer)).status_code == 200
    # the owner's browser is handed over with a ticket, which works once
    handed = admin.http.get(f"/deployments/{server.admin}/hostile/page", headers=page)
    assert handed.status_code == 303
    ticket_url = handed.headers["location"]
    assert ticket_url.startswith(f"{server.user_content_url}/.ophis/enter?ticket=")
    with httpx.Client(follow_redirects=True) as owner_browser:
        opened = owner_browser.get(ticket_url, headers=page)
        assert opened.status_code == 200 and "hostile" in opened.text
        assert owner_browser.get(f"{hostile}echo").status_code == 200
        # its cookie opens this app only, and is never passed to it
        echoed = {k.lower(): v for k, v in owner_browser.get(f"{hostile}echo").json().items()}
        assert "ophis_app" not in echoed.get("cookie", "")
    replayed = httpx.get(ticket_url)
    assert replayed.status_code == 401 and "used already" in replayed.json()["error"]
    # a signed-in user without access: not found, and no ticket
    visitor = WebClient(server)
    visitor.sign_in("visitor")
    refused = visitor.http.get(f"/deployments/{server.admin}/hostile/page", headers=page)
    assert refused.status_code == 404
    for client in (admin, visitor):
        client.close()


def test_the_sites_cookies_cannot_be_planted_over_https(tmp_path: Path) -> None:
    """Over HTTPS the site's cookies are ``__Host-`` ones (no sibling host can set them);
    a cookie sent twice signs no one in; a form posted from another origin of the same
    site (the user-content one) is refused even with the right CSRF token."""
    settings = ServerSettings(
        data_dir=tmp_path / "data",
        public_url="https://ophis.test",
        webhook_sender=False,
        retention_runner=False,
        mirror_runner=False,
    )
    app = create_app(settings)
    with app.state.context.sessions() as session:
        accounts.create_user(session, "visitor", "a-password-for-tests")
    jar = "__Host-ophis_session"

    async def visit() -> dict[str, int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as site:
            form = await site.get("/login")
            set_csrf = form.headers["set-cookie"]
            assert set_csrf.startswith("__Host-ophis_csrf=") and "Secure" in set_csrf
            assert "Path=/" in set_csrf and "HttpOnly" in set_csrf
            csrf = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
            login = {"login": "visitor", "password": "a-password-for-tests", "csrf_token": csrf}
            signed = await site.post("/login", data=login)
            assert signed.headers["set-cookie"].startswith(f"{jar}=")
            secret = signed.cookies[jar]
            site.cookies.clear()

            async def status(cookie: str, **headers: str) -> int:
                answer = await site.get("/settings/tokens", headers={"Cookie": cookie, **headers})
                return answer.status_code

            page = await site.get("/settings/tokens", headers={"Cookie": f"{jar}={secret}"})
            token_form = CSRF.search(page.text).group(1)  # type: ignore[union-attr]

            async def post(**headers: str) -> int:
                answer = await site.post(
                    "/settings/tokens",
                    data={
                        "name": f"t{len(headers)}",
                        "expiry": "30d",
                        "scopes": "api:read",
                        "csrf_token": token_form,
                    },
                    headers={"Cookie": f"{jar}={secret}", **headers},
                )
                return answer.status_code

            return {
                "own": await status(f"{jar}={secret}"),
                "unprefixed": await status(f"ophis_session={secret}"),
                "twice": await status(f"{jar}=planted; {jar}={secret}"),
                "post from the user-content origin": await post(Origin="https://apps.ophis.test"),
                "post same-site": await post(**{"Sec-Fetch-Site": "same-site"}),
                "post from the site": await post(**{"Sec-Fetch-Site": "same-origin"}),
            }

    try:
        seen = anyio.run(visit)
    finally:
        app.state.context.close()
    assert seen == {
        "own": 200,
        "unprefixed": 303,
        "twice": 303,
        "post from the user-content origin": 403,
        "post same-site": 403,
        "post from the site": 200,
    }
