"""The vulnerability pages: ``/cves`` and ``/cves/<id>``, the section of package pages, the
curators' status form (over HTTP, and once in a real browser) and the channel policy form
of ``/settings/channel``, which hides a file from repodata."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.testing.browser import chromium
from ophis.testing.packages import make_package
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in, text_of

FEED = Path(__file__).parents[3] / "src" / "ophis" / "testing" / "data" / "cve-feed"
CRITICAL = "CVE-2022-37434"
ZLIB = "noarch/zlib-1.2.11-0.tar.bz2"


@pytest.fixture(scope="module")
def curator(
    server: RunningServer, database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebClient]:
    """'keeper' (signed in) with a public zlib 1.2.11 and 1.2.13; 'hider' with a private
    zlib 1.2.11; the sample feed imported."""
    client = signed_in(server, "keeper")
    out = tmp_path_factory.mktemp("made")
    database.add("keeper", make_package(out, "zlib", "1.2.11"))
    database.add("keeper", make_package(out, "zlib", "1.2.13"))
    database.user("hider")
    database.add("hider", make_package(out, "zlib", "1.2.11"), public=False)
    result = server.ophis("cve", "import", str(FEED))
    assert result.returncode == 0, result.stderr
    yield client
    client.close()


def test_the_list_filters_by_package_and_score(
    server: RunningServer, curator: WebClient, browser: WebClient
) -> None:
    page = text_of(browser.get("/cves"))
    assert CRITICAL in page and "GHSA-8q59-q68h-6hv4" in page and "CVE-2020-14343" in page
    zlib = text_of(browser.get("/cves?package=zlib"))
    assert CRITICAL in zlib and "CVE-2018-25032" in zlib and "PyYAML" not in zlib
    assert "CVE-2018-25032" not in text_of(browser.get("/cves?min_score=9"))


def test_a_cve_page_shows_only_the_files_a_visitor_may_see(
    curator: WebClient, browser: WebClient
) -> None:
    page = browser.get(f"/cves/{CRITICAL}")
    assert page.status_code == 200
    text = text_of(page)
    assert "keeper/zlib 1.2.11" in text and "hider" not in text
    assert "critical 9.8" in text and "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H" in text
    assert "zlib &lt;1.2.13" in text
    assert "Set status" not in text  # no form for a visitor
    assert browser.get("/cves/CVE-1999-0001").status_code == 404


def test_the_package_page_lists_each_files_vulnerabilities(
    curator: WebClient, browser: WebClient
) -> None:
    text = text_of(browser.get("/keeper/zlib"))
    assert "Known vulnerabilities" in text
    assert f"{CRITICAL} 9.8 critical reported" in text
    assert "CVE-2018-25032 7.5 high reported" in text
    assert "zlib-1.2.13" not in text.split("Known vulnerabilities", 1)[1]


def test_curators_change_a_status_others_cannot(server: RunningServer, curator: WebClient) -> None:
    other = signed_in(server, "nosy")
    file_id = _file_id(curator)
    form = {"file_id": str(file_id), "status": "active", "reason": "we call inflateGetHeader"}
    refused = other.post(f"/cves/{CRITICAL}/status", form, page=f"/cves/{CRITICAL}")
    assert refused.status_code == 403 and "You may not change" in refused.text
    other.close()
    missing = curator.post(
        f"/cves/{CRITICAL}/status", {**form, "reason": " "}, page=f"/cves/{CRITICAL}"
    )
    assert missing.status_code == 400 and "needs a reason" in missing.text
    done = curator.post(f"/cves/{CRITICAL}/status", form, page=f"/cves/{CRITICAL}")
    assert done.status_code == 303
    text = text_of(curator.get(f"/cves/{CRITICAL}"))
    assert "Status: active we call inflateGetHeader by keeper" in text
    assert "keeper: reported → active : we call inflateGetHeader" in text


def test_a_policy_set_on_the_channel_page_hides_the_file(
    server: RunningServer, curator: WebClient
) -> None:
    def listed() -> set[str]:
        document = httpx.get(f"{server.conda('keeper')}/noarch/repodata.json").json()
        return set(document["packages"])

    assert "zlib-1.2.11-0.tar.bz2" in listed()
    form = {"owner": "keeper", "action": "hide", "max_score": "9", "statuses": ["active"]}
    page = "/settings/channel?owner=keeper"
    bad = curator.post("/settings/channel/policy", {**form, "max_score": "eleven"}, page=page)
    assert bad.status_code == 400 and "not a score" in bad.text
    assert curator.post("/settings/channel/policy", form, page=page).status_code == 303
    settings = text_of(curator.get(page))
    assert "every label hide Vulnerabilities with score ≥ 9.0 in active" in settings
    assert listed() == {"zlib-1.2.13-0.tar.bz2"}
    package_page = text_of(curator.get("/keeper/zlib"))
    assert f"hidden from every label: {CRITICAL} (score 9.8, active)" in package_page
    removed = curator.post("/settings/channel/policy/delete", {"owner": "keeper"}, page=page)
    assert removed.status_code == 303
    assert "zlib-1.2.11-0.tar.bz2" in listed()


def _file_id(client: WebClient) -> int:
    found = httpx.get(f"{client.server.api}/cves/{CRITICAL}").json()["files"]
    return next(f["file_id"] for f in found if f["owner"] == "keeper")


def test_a_curator_changes_a_status_in_a_real_browser(
    server: RunningServer, curator: WebClient
) -> None:
    with chromium() as browser:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/login")
        page.get_by_label("User name").fill("keeper")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{server.url}/")
        page.goto(f"{server.url}/keeper/zlib")
        page.get_by_role("link", name="CVE-2018-25032").click()
        card = page.locator(f'article[data-file="keeper/{ZLIB}"]')
        assert card.locator("[data-status]").inner_text() == "reported"
        card.get_by_label("New status").select_option("disputed")
        card.get_by_label("Reason").fill("only deflate with many distant matches")
        card.get_by_role("button", name="Set status").click()
        page.wait_for_load_state()
        card = page.locator(f'article[data-file="keeper/{ZLIB}"]')
        assert card.locator("[data-status]").inner_text() == "disputed"
        assert "only deflate with many distant matches" in card.inner_text()
        context.close()
