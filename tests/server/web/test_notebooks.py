"""Notebooks on the server (turned on here): a real JupyterLab per user, run as that
account's OS user, reached through the server's proxy on the user-content origin by the user
the site handed over only, and stopped when idle."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from ophis.server.services.hosting.notebooks import user_folder
from ophis.server.settings import load_settings
from ophis.testing.browser import WIDE, chromium
from ophis.testing.notebooks import execute_request, stream_output
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.user_code import (
    ATTACK_THE_SITE,
    NOT_ROOT,
    user_code_server,
)
from ophis.testing.web import WebClient, signed_in

IDLE_SECONDS = 6

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason=NOT_ROOT)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with user_code_server(
        tmp_path_factory.mktemp("notebooks") / "data",
        f"notebooks_idle_seconds = {IDLE_SECONDS}",
        "notebooks_poll_seconds = 0.5",
        "notebooks_max_running = 1",
    ) as running:
        yield running


def _home(server: RunningServer, login: str) -> Path:
    return user_folder(load_settings(data_dir=server.data_dir), login)


@pytest.fixture(scope="module")
def alice(server: RunningServer) -> Iterator[WebClient]:
    client = signed_in(server, "alice")
    yield client
    client.close()


@pytest.fixture(scope="module")
def bob(server: RunningServer) -> Iterator[WebClient]:
    client = signed_in(server, "bob")
    yield client
    client.close()


@pytest.fixture(scope="module")
def lab(alice: WebClient) -> Iterator[httpx.Client]:
    """Alice's browser on the user-content origin, handed over by the site."""
    client = alice.open_user_content("/notebooks/alice/lab")
    yield client
    client.close()


def _xsrf(client: httpx.Client) -> dict[str, str]:
    """JupyterLab's own XSRF header, from the cookie its pages set."""
    return {"X-XSRFToken": client.cookies.get("_xsrf", "")}


def test_a_user_starts_jupyterlab_and_reaches_it_through_the_proxy(
    server: RunningServer, alice: WebClient, lab: httpx.Client
) -> None:
    page = alice.get("/notebooks")
    assert page.status_code == 200 and "Start JupyterLab" in page.text
    started = alice.post("/notebooks/start", {"environment": "default"}, page="/notebooks")
    assert started.status_code == 303, started.text
    # handed over to the user-content origin, with a ticket for alice's lab
    assert started.headers["location"].startswith(f"{server.user_content_url}/.ophis/enter?")
    front = lab.get("/notebooks/alice/lab")
    assert front.status_code == 200 and "JupyterLab" in front.text
    status = lab.get("/notebooks/alice/api/status")
    assert status.status_code == 200 and "last_activity" in status.json()
    # a file saved through JupyterLab lands in the user's persistent folder
    saved = lab.put(
        "/notebooks/alice/api/contents/hello.txt",
        json={"type": "file", "format": "text", "content": "hello from the lab"},
        headers=_xsrf(lab),
    )
    assert saved.status_code in (200, 201), saved.text
    assert (_home(server, "alice") / "hello.txt").read_text() == "hello from the lab"
    # the administrator sees it running
    command = ["server", "notebooks", "list", "--json", "--data-dir", str(server.data_dir)]
    listed = subprocess.run(
        [sys.executable, "-m", "ophis", *command],
        capture_output=True,
        text=True,
    )
    assert [(s["login"], s["environment"]) for s in json.loads(listed.stdout)] == [
        ("alice", "default")
    ]


def test_a_kernel_runs_code_over_the_proxied_websocket(
    server: RunningServer, lab: httpx.Client
) -> None:
    kernel = lab.post("/notebooks/alice/api/kernels", json={}, headers=_xsrf(lab))
    assert kernel.status_code == 201, kernel.text
    cookie = f"ophis_app={lab.cookies['ophis_app']}"
    kernel_id = kernel.json()["id"]
    origin = server.user_content_url
    url = f"{origin.replace('http', 'ws')}/notebooks/alice/api/kernels/{kernel_id}/channels"
    with connect(url, additional_headers={"Cookie": cookie, "Origin": origin}) as socket:
        msg_id = uuid.uuid4().hex
        socket.send(json.dumps(execute_request(msg_id, "print(6 * 7)")))
        assert stream_output(socket, msg_id) == "42\n"


def test_jupyterlab_opens_in_a_real_browser_through_the_proxy(
    server: RunningServer, alice: WebClient, tmp_path: Path
) -> None:
    """The whole front end through the proxy: its assets and API, and a new notebook whose
    kernel reports idle over the proxied WebSocket (code runs over it in the test above)."""
    with chromium() as browser:
        page = browser.new_page(viewport=WIDE)
        page.goto(f"{server.url}/login")
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{server.url}/notebooks/alice/lab")
        try:
            assert page.url.startswith(f"{server.user_content_url}/notebooks/alice/lab")
            page.locator(".jp-LauncherCard[data-category='Notebook']").first.click(timeout=90_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=90_000
            )
            page.wait_for_selector(".jp-DirListing-item:has-text('hello.txt')", timeout=30_000)
            # script on the notebook's origin (no sandbox: JupyterLab needs its origin)
            # can neither read the site with alice's cookies nor post a token form
            report = page.evaluate(ATTACK_THE_SITE, server.url)
            assert report.startswith("read=blocked post=blocked"), report
        finally:
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
    tokens = alice.get("/settings/tokens")
    assert tokens.status_code == 200 and "alice" in tokens.text
    assert "stolen" not in tokens.text


def test_another_users_session_and_no_session_are_refused(
    server: RunningServer, alice: WebClient, bob: WebClient, lab: httpx.Client
) -> None:
    assert bob.get("/notebooks/alice/api/status").status_code == 403
    assert "belongs to another user" in bob.get("/notebooks/alice/lab").text
    anonymous = WebClient(server)
    try:
        refused = anonymous.get("/notebooks/alice/lab")
        assert refused.status_code == 303 and "/login" in refused.headers["location"]
    finally:
        anonymous.close()
    # on the user-content origin, the site's session opens nothing: not alice's, not bob's
    origin = server.user_content_url
    for owner in (alice, bob):
        cookie = f"ophis_session={owner.http.cookies['ophis_session']}"
        direct = httpx.get(f"{origin}/notebooks/alice/api/status", headers={"Cookie": cookie})
        assert direct.status_code == 401
        with pytest.raises(InvalidStatus) as refused_socket:
            url = f"{origin.replace('http', 'ws')}/notebooks/alice/api/events/subscribe"
            connect(url, additional_headers={"Cookie": cookie})
        assert refused_socket.value.response.status_code == 403
    # alice's own app session, in a request another origin's page made: refused
    elsewhere = {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", **_xsrf(lab)}
    made = lab.post("/notebooks/alice/api/kernels", json={}, headers=elsewhere)
    assert made.status_code == 403 and "its own pages only" in made.json()["error"]
    # the server's limit: one notebook server at once
    over = bob.post("/notebooks/start", {"environment": "default"}, page="/notebooks")
    assert over.status_code == 429
    assert "notebook servers are running already" in over.text


def test_an_idle_notebook_server_is_stopped(
    server: RunningServer, alice: WebClient, lab: httpx.Client
) -> None:
    state = server.data_dir / "notebooks-runtime" / "alice" / "server.json"
    pid = json.loads(state.read_text())["pid"]
    deadline = time.monotonic() + IDLE_SECONDS + 20
    while state.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not state.exists(), "the idle notebook server was not stopped"
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    assert lab.get("/notebooks/alice/api/status").status_code == 404
    assert "Start JupyterLab" in alice.get("/notebooks").text
    # the user's files stay
    assert (_home(server, "alice") / "hello.txt").is_file()


def _zombie(pid: int) -> bool:
    return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
