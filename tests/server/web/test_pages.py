"""Browsing the web site over HTTP: what the home, owner, label, package and search pages
show, their pagination, the settings pages, and that private packages show nowhere to
those who may not see them."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from ophis.core.distribution_types import DistributionType
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.testing.packages import conda_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

NOT_FOUND = "There is nothing here."


@pytest.fixture(scope="module")
def alice(server: RunningServer) -> WebClient:
    return signed_in(server, "alice")


@pytest.fixture(scope="module")
def bob(server: RunningServer) -> WebClient:
    return signed_in(server, "bob")


@pytest.fixture(scope="module")
def catalog(
    alice: WebClient,
    bob: WebClient,
    database: ServerDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """alice: ``pubpkg`` 1.0 (main) and 2.0 (main, dev), the private ``secretpkg`` (main and
    the label ``hidden``, which holds nothing else), the wheel ``webdemo-py``, and a package
    whose metadata tries to inject markup; zed: 30 ``bulk-NN`` packages."""
    folder = tmp_path_factory.mktemp("web-packages")
    with database.context.sessions() as session:  # first, so alice's are the newest
        zed = accounts.create_user(session, "zed", "zed-password")
        for number in range(30):
            files.ensure_package(session, zed, f"bulk-{number:02d}", summary="filler")
        session.commit()
    summary = {"summary": "A public package for the web pages"}
    basenames = {
        "pub1": database.add("alice", conda_package(folder, "pubpkg", "1.0", **summary)),
        "pub2": database.add(
            "alice", conda_package(folder, "pubpkg", "2.0", **summary), labels=["main", "dev"]
        ),
        "secret": database.add(
            "alice",
            conda_package(folder, "secretpkg", summary="A secret package"),
            labels=["main", "hidden"],
            public=False,
        ),
        "wheel": database.add(
            "alice", make_wheel(folder, "webdemo-py"), kind=DistributionType.PYPI
        ),
        "evil": database.add(
            "alice", conda_package(folder, "evilpkg", summary="<script>alert(1)</script>")
        ),
    }
    with database.context.sessions() as session:
        alice_account = accounts.get_account(session, "alice")
        pubpkg = files.find_package(session, alice_account, "pubpkg")
        assert pubpkg is not None
        pubpkg.description = "Line one.\nLine two with <b>markup</b>."
        pubpkg.license = "BSD-3-Clause"
        pubpkg.home = "https://example.org/pubpkg"
        pubpkg.attrs = {"dev_url": "https://git.example.org/pubpkg", "doc_url": "javascript:x()"}
        session.commit()
    return basenames


def test_the_package_page_shows_everything_about_a_package(
    server: RunningServer, browser: WebClient, catalog: dict[str, str]
) -> None:
    page = browser.get("/alice/pubpkg")
    assert page.status_code == 200
    text = text_of(page)
    for expected in (
        "alice / pubpkg",
        "A public package for the web pages",
        "BSD-3-Clause",
        "Latest version 2.0",
        "noarch",  # the files' platform
        "pubpkg-1.0-0.tar.bz2",
        "pubpkg-2.0-0.tar.bz2",
    ):
        assert expected in text, expected
    # the description is text, never markup
    assert "Line two with &lt;b&gt;markup&lt;/b&gt;." in page.text
    assert 'href="https://example.org/pubpkg"' in page.text
    assert 'href="https://git.example.org/pubpkg"' in page.text
    assert "javascript:" not in page.text
    assert 'href="/alice/labels/dev"' in page.text and 'href="/alice/labels/main"' in page.text
    assert '<a href="?version=1.0">1.0</a>' in page.text
    commands = dict(re.findall(r'data-tool="(\w+)">([^<]+)</code>', page.text))
    channel = f"{server.url}/conda/alice"
    assert commands == {
        "ophis": f"ophis install -c {channel} pubpkg",
        "conda": f"conda install -c {channel} pubpkg",
        "pixi": f"pixi workspace channel add {channel}\npixi add pubpkg",
    }
    # one version's files only
    narrowed = text_of(browser.get("/alice/pubpkg", version="1.0"))
    assert "pubpkg-1.0-0.tar.bz2" in narrowed and "pubpkg-2.0-0.tar.bz2" not in narrowed


def test_the_download_link_serves_the_file_and_is_counted(
    browser: WebClient, catalog: dict[str, str]
) -> None:
    page = browser.get("/alice/pubpkg", version="1.0")
    link = re.search(r'<a href="([^"]+)" download>pubpkg-1.0-0.tar.bz2</a>', page.text)
    assert link and link.group(1) == f"/conda/alice/{catalog['pub1']}"
    download = browser.http.get(link.group(1), follow_redirects=True)
    assert download.status_code == 200
    sha256 = hashlib.sha256(download.content).hexdigest()
    assert f'<code class="hash">{sha256}</code>' in page.text
    row = re.search(r"pubpkg-1.0-0.tar.bz2</a>(.*?)</tr>", browser.get("/alice/pubpkg").text, re.S)
    assert row is not None
    cells = re.findall(r'<td class="number">([^<]*)</td>', row.group(1))
    assert cells[0].endswith(("B", "KB")) and cells[1] == "1"  # size, downloads
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row.group(1))
    assert '<span class="badge">main</span>' in row.group(1)


def test_a_wheel_gets_a_pip_command(
    server: RunningServer, browser: WebClient, catalog: dict
) -> None:
    page = browser.get("/alice/webdemo-py")
    commands = dict(re.findall(r'data-tool="(\w+)">([^<]+)</code>', page.text))
    index = f"{server.url}/pypi/alice/simple"
    assert commands == {"pip": f"pip install --index-url {index} webdemo-py"}
    assert f'href="/pypi/alice/files/{catalog["wheel"]}"' in page.text


def test_pages_escape_what_uploaders_write(browser: WebClient, catalog: dict) -> None:
    for path in ("/", "/alice", "/alice/evilpkg", "/search?q=evil"):
        page = browser.get(path)
        assert "<script>" not in page.text, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text, path


def test_home_owner_and_label_pages(browser: WebClient, catalog: dict[str, str]) -> None:
    home = text_of(browser.get("/"))
    assert "Recently updated" in home and "alice / pubpkg 2.0" in home
    owner = browser.get("/alice")
    assert owner.status_code == 200
    assert 'href="/alice/pubpkg"' in owner.text and 'href="/alice/webdemo-py"' in owner.text
    assert "/conda/alice</code>" in owner.text
    labels = re.findall(r'href="/alice/labels/([^"]+)"', owner.text)
    assert labels == ["dev", "main"]
    dev = browser.get("/alice/labels/dev")
    assert dev.status_code == 200
    assert "pubpkg-2.0-0.tar.bz2" in dev.text and "pubpkg-1.0-0.tar.bz2" not in dev.text
    assert "/conda/alice/label/dev</code>" in dev.text
    assert f'href="/conda/alice/label/dev/{catalog["pub2"]}"' in dev.text
    assert browser.get("/alice/labels/nope").status_code == 404


def test_long_lists_are_paged(browser: WebClient, catalog: dict) -> None:
    first = browser.get("/zed")
    names = re.findall(r'href="/zed/(bulk-\d\d)"', first.text)
    assert names == [f"bulk-{n:02d}" for n in range(25)]
    assert 'rel="next" href="?page=2"' in first.text and 'rel="prev"' not in first.text
    second = browser.get("/zed", page=2)
    assert re.findall(r'href="/zed/(bulk-\d\d)"', second.text) == [
        f"bulk-{n:02d}" for n in range(25, 30)
    ]
    assert 'rel="prev" href="?page=1"' in second.text and 'rel="next"' not in second.text
    searched = browser.get("/search", q="filler", page=2)
    assert len(re.findall(r'href="/zed/bulk-\d\d"', searched.text)) == 5
    assert 'href="?q=filler&amp;page=1"' in searched.text
    assert browser.get("/zed", page=0).status_code == 422


def test_search_by_name_summary_type_and_platform(browser: WebClient, catalog: dict) -> None:
    def found(**query: str) -> list[str]:
        return re.findall(
            r'class="name" href="/(\w+/[\w.-]+)"', browser.get("/search", **query).text
        )

    exact = browser.get("/search", q="pubpkg").text
    assert "Exact match" in exact and found(q="pubpkg") == ["alice/pubpkg"]
    assert found(q="public package for the web") == ["alice/pubpkg"]
    assert found(q="PUB") == ["alice/pubpkg"]
    assert found(q="webdemo", type="pypi") == ["alice/webdemo-py"]
    assert found(q="webdemo", type="conda") == []
    assert found(q="pkg", platform="linux-64") == ["alice/evilpkg", "alice/pubpkg"]  # noarch
    assert found(q="webdemo", platform="linux-64") == []
    assert browser.get("/search", platform="amiga-68k").status_code == 400


def test_private_packages_show_nowhere_to_others(
    server: RunningServer, browser: WebClient, bob: WebClient, catalog: dict[str, str]
) -> None:
    for outsider in (browser, bob):
        for path in ("/", "/alice", "/alice/labels/main", "/search?q=secret", "/search?q="):
            page = outsider.get(path)
            assert page.status_code == 200, path
            assert "secretpkg" not in page.text, path
        assert 'href="/alice/labels/hidden"' not in outsider.get("/alice").text
        for path in ("/alice/secretpkg", "/alice/labels/hidden", "/alice/secretpkg?version=1.0"):
            missing = outsider.get(path)
            assert missing.status_code == 404, path
            assert NOT_FOUND in missing.text
            words = text_of(missing)
            assert "secret" not in words and "hidden" not in words, path
        # the same answer as for a package that never existed
        assert text_of(outsider.get("/alice/secretpkg")) == text_of(outsider.get("/alice/nopkg"))


def test_private_packages_show_to_their_owner(
    server: RunningServer, alice: WebClient, catalog: dict[str, str]
) -> None:
    assert 'href="/alice/secretpkg"' in alice.get("/alice").text
    assert 'href="/alice/labels/hidden"' in alice.get("/alice").text
    assert "secretpkg" in alice.get("/alice/labels/hidden").text
    assert "alice/secretpkg" in alice.get("/search", q="secret").text
    page = alice.get("/alice/secretpkg")
    assert page.status_code == 200 and "private" in page.text
    commands = dict(re.findall(r'data-tool="(\w+)">([^<]+)</code>', page.text))
    assert (
        commands["conda"] == f"conda install -c {server.url}/conda/t/&lt;TOKEN&gt;/alice secretpkg"
    )
    assert "download>" not in page.text  # a browser's link would need a token: none shown


def test_only_writers_may_change_visibility(
    browser: WebClient, alice: WebClient, bob: WebClient, catalog: dict
) -> None:
    assert "Make private" in alice.get("/alice/pubpkg").text
    assert "Make private" not in bob.get("/alice/pubpkg").text
    refused = bob.post("/alice/pubpkg/visibility", {"public": "false"})
    assert (
        refused.status_code == 403 and "You have no write access to alice/pubpkg." in refused.text
    )
    assert bob.post("/alice/secretpkg/visibility", {"public": "true"}).status_code == 404
    anonymous = browser.post("/alice/pubpkg/visibility", {"public": "false"})
    assert anonymous.status_code == 401
    assert browser.get("/alice/pubpkg").status_code == 200

    hidden = alice.post("/alice/pubpkg/visibility", {"public": "false"})
    assert hidden.status_code == 303 and hidden.headers["location"] == "/alice/pubpkg"
    assert browser.get("/alice/pubpkg").status_code == 404
    assert "Make public" in alice.get("/alice/pubpkg").text
    assert alice.post("/alice/pubpkg/visibility", {"public": "true"}).status_code == 303
    assert browser.get("/alice/pubpkg").status_code == 200


def test_tokens_are_shown_once_listed_and_revoked(server: RunningServer, alice: WebClient) -> None:
    created = alice.post(
        "/settings/tokens",
        {"name": "ci-read", "scopes": ["api:read", "conda:download"], "expiry": "7d"},
        page="/settings/tokens",
    )
    assert created.status_code == 200
    secret = re.search(r'<code class="copy" id="new-token">([^<]+)</code>', created.text)
    assert secret, created.text
    token = secret.group(1)
    listed = alice.get("/settings/tokens").text
    assert token not in listed  # shown once
    assert "ci-read" in listed and "api:read" in listed and "conda:download" in listed
    me = httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"})
    assert me.status_code == 200 and me.json()["login"] == "alice"

    again = alice.post(
        "/settings/tokens",
        {"name": "ci-read", "scopes": "api", "expiry": "7d"},
        page="/settings/tokens",
    )
    assert again.status_code == 400 and "already exists" in again.text
    unscoped = alice.post(
        "/settings/tokens", {"name": "x", "expiry": "7d"}, page="/settings/tokens"
    )
    assert unscoped.status_code == 400 and "Choose at least one scope." in unscoped.text

    token_id = re.search(r'action="/settings/tokens/(\d+)/revoke"', listed)
    assert token_id
    revoked = alice.post(
        f"/settings/tokens/{token_id.group(1)}/revoke", {}, page="/settings/tokens"
    )
    assert revoked.status_code == 303
    assert (
        httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"}).status_code
        == 401
    )
    assert "ci-read" not in alice.get("/settings/tokens").text


def test_the_profile_page_saves_name_and_email(alice: WebClient, bob: WebClient) -> None:
    saved = alice.post(
        "/settings/profile",
        {"name": "Alice Liddell", "email": "alice@example.org"},
        page="/settings/profile",
    )
    assert saved.status_code == 200 and "Your profile was saved." in saved.text
    page = alice.get("/settings/profile").text
    assert 'value="Alice Liddell"' in page and 'value="alice@example.org"' in page
    assert "Alice Liddell" in alice.get("/alice").text
    bad = alice.post("/settings/profile", {"name": "A", "email": "nope"}, page="/settings/profile")
    assert bad.status_code == 400 and "is not an email address" in bad.text


def test_pages_need_sign_in_and_do_not_shadow_the_api(
    server: RunningServer, browser: WebClient
) -> None:
    for path in ("/settings/profile", "/settings/tokens"):
        response = browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
    assert browser.get("/healthz").json()["status"] == "ok"
    assert browser.get("/api").json()["api_url"] == f"{server.url}/api"
    missing = browser.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "Not found."
    assert browser.get("/api/package/alice/secretpkg").json()["error"].startswith("alice/secretpkg")
    repodata = browser.get("/conda/alice/noarch/repodata.json")
    assert repodata.status_code == 200 and "pubpkg-1.0-0.tar.bz2" in repodata.text
    css = browser.get("/static/ophis.css")
    assert css.status_code == 200 and "text/css" in css.headers["content-type"]
    page = browser.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
