"""``/settings/mirrors`` and the mirror badges of the owner and label pages: a mirror added
through the form is synced by the server's own runner, "Sync now" brings upstream's news
in, and only those who administer the owner see or change any of it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from ophis.mirror.plan import records_of
from ophis.testing.http import StaticServer, serve_directory
from ophis.testing.mirror import add_package, reindex
from ophis.testing.server import RunningServer, run_server
from ophis.testing.web import WebClient, signed_in, text_of

PAGE = "/settings/mirrors"
SECRET = "mirror-page-upstream-token-5678"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server whose mirror runner looks for due mirrors every 0.3 s."""
    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:  # read once, as the server starts
            patch.setenv("OPHIS_MIRROR_POLL_SECONDS", "0.3")
            running = stack.enter_context(run_server(tmp_path_factory.mktemp("web") / "data"))
        yield running


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, StaticServer]]:
    root = tmp_path_factory.mktemp("upstream")
    add_package(root, "alpha", "1.0")
    add_package(root, "beta", "1.0")
    reindex(root)
    with serve_directory(root) as static:
        yield root, static


@pytest.fixture(scope="module")
def hal(server: RunningServer) -> Iterator[WebClient]:
    client = signed_in(server, "hal")
    yield client
    client.close()


def served(server: RunningServer, owner: str) -> set[str]:
    response = httpx.get(f"{server.conda(owner)}/noarch/repodata.json", timeout=30)
    assert response.status_code == 200, response.text
    return set(records_of(response.json()))


def wait_for(server: RunningServer, owner: str, wanted: set[str]) -> None:
    deadline = time.monotonic() + 60
    while served(server, owner) != wanted:
        assert time.monotonic() < deadline, f"{owner} never served {wanted}"
        time.sleep(0.3)


def post(browser: WebClient, route: str, owner: str = "hal", **form: str) -> httpx.Response:
    return browser.post(f"{PAGE}{route}", {"owner": owner, **form}, page=f"{PAGE}?owner={owner}")


def test_a_mirror_added_with_the_form_is_synced_badged_and_synced_again_on_request(
    server: RunningServer, hal: WebClient, upstream: tuple[Path, StaticServer]
) -> None:
    root, static = upstream
    assert "No mirror or proxy channels." in text_of(hal.get(PAGE))
    assert 'href="/settings/mirrors" aria-current="page"' in hal.get(PAGE).text
    form = {"upstream": static.url, "subdirs": "noarch", "include": "alpha\nbeta"}
    forged = hal.http.post(PAGE, data={"owner": "hal", **form})  # no CSRF token
    assert forged.status_code in (400, 403)
    assert "No mirror or proxy channels." in text_of(hal.get(PAGE))
    assert post(hal, "", **form).status_code == 303
    wait_for(server, "hal", {"alpha-1.0-0.tar.bz2", "beta-1.0-0.tar.bz2"})
    deadline = time.monotonic() + 30  # the summary is recorded just after the last file
    while "2 files" not in text_of(hal.get(PAGE)):
        assert time.monotonic() < deadline, text_of(hal.get(PAGE))
        time.sleep(0.3)
    for page in ("/hal", "/hal/labels/main"):
        shown = text_of(hal.get(page))
        assert f"Mirror of {static.url}" in shown and ": ok" in shown, shown
    anonymous = text_of(httpx.get(f"{server.url}/hal", timeout=30))
    assert f"Mirror of {static.url}" in anonymous

    add_package(root, "alpha", "2.0")
    reindex(root)
    time.sleep(1)  # not due (an hour's interval): only "Sync now" brings it in
    assert "alpha-2.0-0.tar.bz2" not in served(server, "hal")
    assert post(hal, "/sync", label="main").status_code == 303
    wait_for(server, "hal", {"alpha-1.0-0.tar.bz2", "alpha-2.0-0.tar.bz2", "beta-1.0-0.tar.bz2"})

    assert post(hal, "/delete", label="main").status_code == 303
    assert "No mirror or proxy channels." in text_of(hal.get(PAGE))
    assert "Mirror of" not in text_of(hal.get("/hal"))
    assert "alpha-2.0-0.tar.bz2" in served(server, "hal")  # the files stay


def test_a_proxy_token_is_never_shown_and_errors_show_on_the_page(
    hal: WebClient, upstream: tuple[Path, StaticServer]
) -> None:
    _, static = upstream
    form = {"upstream": static.url, "label": "cache", "mode": "proxy", "token": SECRET}
    assert post(hal, "", **form).status_code == 303
    page = hal.get(PAGE)
    assert "Proxy of" in text_of(page) and SECRET not in page.text
    assert SECRET not in hal.get("/hal").text
    label_page = hal.get("/hal/labels/cache")  # there before any file is fetched
    assert "Proxy of" in text_of(label_page) and SECRET not in label_page.text
    again = post(hal, "", **form)
    assert again.status_code == 409 and "already a mirror" in text_of(again)
    bad = post(hal, "", upstream="ftp://nowhere", label="other")
    assert bad.status_code == 400 and "must be an http(s) URL" in text_of(bad)
    refused = post(hal, "/sync", label="cache")
    assert refused.status_code == 400 and "is a proxy channel" in text_of(refused)


def test_someone_who_does_not_administer_the_owner_gets_404(
    server: RunningServer, hal: WebClient, upstream: tuple[Path, StaticServer]
) -> None:
    _, static = upstream
    ivy = signed_in(server, "ivy")
    try:
        assert ivy.get(f"{PAGE}?owner=hal").status_code == 404
        for route, form in (
            ("", {"upstream": static.url, "label": "x"}),
            ("/sync", {"label": "cache"}),
            ("/delete", {"label": "cache"}),
        ):
            response = ivy.post(f"{PAGE}{route}", {"owner": "hal", **form}, page=PAGE)
            assert response.status_code == 404, route
        assert "Proxy of" in text_of(hal.get(PAGE))  # hal's proxy is still there
        assert ivy.get(PAGE).status_code == 200  # ivy's own page
    finally:
        ivy.close()
