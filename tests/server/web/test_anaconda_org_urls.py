"""Anaconda.org's URLs on an Ophis server: an owner's repository page, a package's files
page, a file by its release (``/<owner>/<package>/<version>/download/...``, installed from
an @EXPLICIT file by ``ophis``), the package badges (as images in chromium), and the
channel's index pages and ``rss.xml`` for browsers, while conda's clients get what they
always got. Private packages are as absent as missing ones, and hostile metadata comes out
as text everywhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from xml.etree import ElementTree

import httpx
import pytest

from ophis.core.distribution_types import DistributionType
from ophis.core.package_file import file_digests
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.server.services.intake import ingest
from ophis.testing.backends import sends_local_files
from ophis.testing.browser import PHONE, chromium, fits_the_screen
from ophis.testing.cli import ophis
from ophis.testing.packages import conda_package
from ophis.testing.python_dists import make_wheel
from ophis.testing.server import RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, text_of

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
HOSTILE_SUMMARY = '<img src=x onerror="alert(1)"> & <b>bold</b>'
ESCAPED_SUMMARY = "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
HOSTILE_LICENSE = "<script>alert('license')</script>"
PUB1 = "noarch/pubpkg-1.0-0.tar.bz2"
PUB2 = "noarch/pubpkg-2.0-0.tar.bz2"
SECRET = "noarch/secretpkg-1.0-0.tar.bz2"
WHEEL = "webdemo_py-1.0-py3-none-any.whl"
BADGES = (
    "version",
    "downloads",
    "platforms",
    "license",
    "latest_release_date",
    "latest_release_relative_date",
    "installer/conda",
)


@pytest.fixture(scope="module")
def tokens(database: ServerDatabase, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """alice: ``pubpkg`` 1.0 (main) and 2.0 (main and dev), both with a hostile summary and
    2.0 with a hostile license and home, the private ``secretpkg``, the wheel ``webdemo-py``
    and a package named ``repo``; bob owns nothing. Returns their tokens."""
    folder = tmp_path_factory.mktemp("org-urls")
    made = {"alice": database.user("alice"), "bob": database.user("bob")}
    database.add("alice", conda_package(folder, "pubpkg", "1.0", summary=HOSTILE_SUMMARY))
    hostile = {"summary": HOSTILE_SUMMARY, "license": HOSTILE_LICENSE, "home": "javascript:x()"}
    pub2 = conda_package(folder, "pubpkg", "2.0", **hostile)
    database.add("alice", pub2, labels=["main", "dev"])
    database.add("alice", conda_package(folder, "secretpkg"), public=False)
    database.add("alice", make_wheel(folder, "webdemo-py"), kind=DistributionType.PYPI)
    database.add("alice", conda_package(folder, "repo", summary="named like the listing"))
    return made


#: the headers these tests read are the server's own: with S3 a download is a redirect
LOCAL_FILES_ONLY = pytest.mark.skipif(not sends_local_files(), reason="S3 sends redirects")


def get(server: RunningServer, path: str, **headers: str) -> httpx.Response:
    return httpx.get(server.url + path, headers=headers, timeout=30)


def test_the_repo_page_lists_an_owners_packages_with_anaconda_orgs_filters(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    page = get(server, "/alice/repo")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    listed = re.findall(r'<tr data-package="([^"]+)">', page.text)
    assert listed == ["pubpkg", "repo", "webdemo-py"]  # secretpkg is private
    # a package named like the listing is reached through its files page
    assert 'href="/alice/repo/files"' in page.text
    assert HOSTILE_SUMMARY not in page.text and ESCAPED_SUMMARY in page.text
    by = {
        "type=pypi": ["webdemo-py"],
        "type=conda": ["pubpkg", "repo"],
        "label=dev": ["pubpkg"],
        "q=PUB": ["pubpkg"],
        "access=private": [],
    }
    for query, expected in by.items():
        found = get(server, f"/alice/repo?{query}")
        assert re.findall(r'<tr data-package="([^"]+)">', found.text) == expected, query
    assert get(server, "/alice/repo?type=nonsense").status_code == 400
    assert get(server, "/nobody/repo").status_code == 404
    owner = WebClient(server)
    assert owner.sign_in("alice", "alice-password").status_code == 303
    private = owner.get("/alice/repo", access="private")
    assert re.findall(r'<tr data-package="([^"]+)">', private.text) == ["secretpkg"]
    owner.close()


def test_the_files_page_lists_files_with_their_download_links_and_filters(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    page = get(server, "/alice/pubpkg/files")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-file="([^"]+)">', page.text)
    assert rows == [PUB2, PUB1]  # newest first
    for basename, version in ((PUB1, "1.0"), (PUB2, "2.0")):
        link = f'href="/alice/pubpkg/{version}/download/{basename}" download'
        assert link in page.text
    text = text_of(page)
    assert "noarch" in text and "conda" in text
    # the summary is text, never markup
    assert HOSTILE_SUMMARY not in page.text and ESCAPED_SUMMARY in page.text
    for query, expected in (
        ("version=1.0", [PUB1]),
        ("channel=dev", [PUB2]),
        ("label=main", [PUB2, PUB1]),
        ("platform=linux-64", []),
        ("type=pypi", []),
    ):
        found = get(server, f"/alice/pubpkg/files?{query}")
        assert re.findall(r'<tr data-file="([^"]+)">', found.text) == expected, query
    wheel = get(server, "/alice/webdemo-py/files")
    assert f'href="/alice/webdemo-py/1.0/download/{WHEEL}" download' in wheel.text
    # the package named ``repo`` keeps its files page
    assert re.findall(r'<tr data-file="([^"]+)">', get(server, "/alice/repo/files").text) == [
        "noarch/repo-1.0-0.tar.bz2"
    ]


def test_a_private_packages_pages_answer_as_a_missing_one_but_to_those_who_may_read_it(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    missing = get(server, "/alice/nosuchpkg/files")
    private = get(server, "/alice/secretpkg/files")
    assert missing.status_code == private.status_code == 404
    assert missing.text == private.text
    owner = WebClient(server)
    owner.sign_in("alice", "alice-password")
    page = owner.get("/alice/secretpkg/files")
    assert page.status_code == 200 and SECRET in page.text
    # a browser sends no token: no link that would answer 404, a note on how instead
    assert "/download/" + SECRET + '"' not in page.text and "&lt;TOKEN&gt;" in page.text
    owner.close()


@LOCAL_FILES_ONLY
def test_a_file_downloads_by_its_release_counted_and_private_only_with_a_token(
    server: RunningServer, database: ServerDatabase, tokens: dict[str, str]
) -> None:
    url = f"/alice/pubpkg/1.0/download/{PUB1}"
    before = database.downloads("alice", PUB1)
    assert httpx.head(server.url + url).status_code == 200
    response = get(server, url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="pubpkg-1.0-0.tar.bz2"'
    assert response.headers["x-content-type-options"] == "nosniff"
    served = get(server, f"/conda/alice/{PUB1}").content
    assert hashlib.sha256(response.content).digest() == hashlib.sha256(served).digest()
    assert database.downloads("alice", PUB1) == before + 2  # the GETs, not the HEAD
    etag = response.headers["etag"]
    assert get(server, url, **{"If-None-Match": etag}).status_code == 304
    # a wheel, by its file name
    assert get(server, f"/alice/webdemo-py/1.0/download/{WHEEL}").status_code == 200
    # another version's path, a file of another package: nothing
    assert get(server, f"/alice/pubpkg/2.0/download/{PUB1}").status_code == 404
    assert get(server, f"/alice/repo/1.0/download/{PUB1}").status_code == 404
    # private: the same 404 as a missing file to anyone without a token that may read it
    secret = f"/alice/secretpkg/1.0/download/{SECRET}"
    missing = get(server, "/alice/secretpkg/1.0/download/noarch/secretpkg-9-0.tar.bz2")
    for refused in (
        get(server, secret),
        get(server, secret, Authorization=f"token {tokens['bob']}"),
        get(server, f"/t/{tokens['bob']}{secret}"),
    ):
        assert (refused.status_code, refused.text) == (404, missing.text)
    assert get(server, f"/t/{tokens['alice']}{secret}").status_code == 200
    assert get(server, secret, Authorization=f"token {tokens['alice']}").status_code == 200
    # pip's and netrc's way: the token as a Basic password, any user name
    assert httpx.get(server.url + secret, auth=("ci", tokens["alice"])).status_code == 200
    assert httpx.get(server.url + secret, auth=("ci", tokens["bob"])).status_code == 404


@LOCAL_FILES_ONLY
def test_a_generic_file_downloads_as_an_attachment_that_nothing_renders(
    server: RunningServer, database: ServerDatabase, tokens: dict[str, str], tmp_path: Path
) -> None:
    """A file stored as ``anaconda upload -t file`` stores one (type ``file``, its name as
    basename): an HTML page with script is sent as bytes to save, on the site's origin."""
    page = tmp_path / "notes.html"
    page.write_text("<script>alert(document.cookie)</script>")
    size, md5, sha256 = file_digests(page)
    inspected = files.Inspected(
        "file", "notes", "1.0", page.name, page.name, None, size, md5, sha256
    )
    with database.context.sessions() as session:
        owner = accounts.get_account(session, "bob")  # alice's listings stay as they are
        ingest.add_file(session, database.context.storage, owner, page, inspected)
    response = get(server, "/bob/notes/1.0/download/notes.html")
    assert response.status_code == 200 and response.content.startswith(b"<script>")
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"] == 'attachment; filename="notes.html"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "notes.html" in get(server, "/bob/notes/files?type=file").text


def test_ophis_installs_an_explicit_file_naming_the_download_url(
    server: RunningServer, tokens: dict[str, str], home: dict[str, str], tmp_path: Path
) -> None:
    url = f"{server.url}/alice/pubpkg/1.0/download/{PUB1}"
    explicit = tmp_path / "explicit.txt"
    explicit.write_text(f"# platform: linux-64\n@EXPLICIT\n{url}\n")
    prefix = tmp_path / "env"
    result = ophis(home, "create", "-p", str(prefix), "--file", str(explicit), "-y")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (prefix / "conda-meta" / "pubpkg-1.0-0.json").is_file()


def _svg(response: httpx.Response) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    return ElementTree.fromstring(response.content)  # well-formed, or this raises


def test_badges_are_svg_images_with_the_packages_facts_escaped(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    titles = {}
    for badge in BADGES:
        response = get(server, f"/alice/pubpkg/badges/{badge}.svg")
        svg = _svg(response)
        assert response.headers["cache-control"] == "public, max-age=300"
        titles[badge] = svg.find("{http://www.w3.org/2000/svg}title").text  # type: ignore[union-attr]
    assert titles["version"] == "alice: 2.0"
    assert titles["platforms"] == "platforms: noarch"
    relative = titles["latest_release_relative_date"]
    assert re.fullmatch(r"latest release: (just now|\d+ minutes? ago)", relative), relative
    assert titles["installer/conda"] == f"conda install -c {server.url}/conda/alice pubpkg"
    # the license of the archive, as text: no element of its own in the image
    assert titles["license"] == f"license: {HOSTILE_LICENSE}"
    raw = get(server, "/alice/pubpkg/badges/license.svg").content
    assert b"<script" not in raw and b"&lt;script&gt;" in raw
    assert _svg(get(server, "/alice/webdemo-py/badges/installer/pypi.svg")) is not None
    # no badge for what is private, missing, or not a badge: all the same 404
    missing = get(server, "/alice/nosuchpkg/badges/version.svg")
    assert missing.status_code == 404
    for refused in ("/alice/secretpkg/badges/version.svg", "/alice/secretpkg/badges/license.svg"):
        response = get(server, refused)
        assert (response.status_code, response.text) == (404, missing.text)
    assert get(server, "/alice/pubpkg/badges/nonsense.svg").status_code == 404
    token = f"token {tokens['alice']}"
    private = get(server, "/alice/secretpkg/badges/version.svg", Authorization=token)
    assert _svg(private) is not None and private.headers["cache-control"].startswith("private")


def test_a_browser_gets_the_channels_index_pages_and_conda_what_it_always_got(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    page = get(server, "/conda/alice/", **BROWSER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Accept" in page.headers["vary"]
    assert re.findall(r'<tr data-package="([^"]+)">', page.text) == ["pubpkg", "repo"]
    for link in ('href="./noarch/"', 'href="./label/dev/"', 'href="./rss.xml"'):
        assert link in page.text
    for hostile in ("<img", "<script>", "javascript:"):
        assert hostile not in page.text
    subdir = get(server, "/conda/alice/noarch/", **BROWSER)
    files_listed = re.findall(r'<a href="\./([^"]+)">', subdir.text)
    assert files_listed == [
        "repodata.json",
        "repodata.json.zst",
        "current_repodata.json",
        "pubpkg-1.0-0.tar.bz2",
        "pubpkg-2.0-0.tar.bz2",
        "repo-1.0-0.tar.bz2",
    ]
    dev = get(server, "/conda/alice/label/dev/noarch/", **BROWSER)
    assert "pubpkg-2.0-0.tar.bz2" in dev.text and "pubpkg-1.0-0.tar.bz2" not in dev.text
    # a token in the path shows the private package, and the relative links keep it
    with_token = get(server, f"/conda/t/{tokens['alice']}/alice/", **BROWSER)
    assert 'data-package="secretpkg"' in with_token.text
    assert get(server, "/conda/alice/label/nolabel/", **BROWSER).status_code == 404
    assert get(server, "/conda/alice/index.html").status_code == 200
    assert get(server, "/conda/alice/noarch/index.html").status_code == 200
    # without the slash a browser is sent to the directory, relatively (a token stays)
    for path, slashed in (("/conda/alice", "alice/"), ("/conda/alice/label/dev/noarch", "noarch/")):
        moved = get(server, path, **BROWSER)
        assert (moved.status_code, moved.headers["location"]) == (301, slashed)
    # a trust file at the same place is still the channel's to answer (none here: 404)
    trust = get(server, "/conda/alice/1.root.json", **BROWSER)
    assert trust.status_code == 404 and trust.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "accept",
    [
        None,  # httpx's */*, as conda (requests) and curl send
        "application/json",
        "application/vnd.pypi.simple.v1+json, text/html;q=0.01",  # pip
    ],
)
def test_clients_that_do_not_prefer_html_get_the_same_answers_as_before(
    server: RunningServer, tokens: dict[str, str], accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    for path in ("/conda/alice/", "/conda/alice/noarch/", "/conda/alice/label/dev/"):
        response = get(server, path, **headers)
        assert response.status_code == 307, path  # the router's own redirect, as before
        assert response.headers["location"] == server.url + path.rstrip("/")
    assert get(server, "/conda/alice", **headers).json() == {"error": "Not found.", "remedy": ""}
    unslashed = get(server, "/conda/alice/noarch", **headers)
    assert (unslashed.status_code, unslashed.json()["error"]) == (404, "There is no noarch here.")
    repodata = get(server, "/conda/alice/noarch/repodata.json", **{**BROWSER, **headers})
    assert repodata.headers["content-type"] == "application/json"
    assert PUB1.split("/")[1] in repodata.json()["packages"]


def test_rss_lists_the_latest_packages_escaped_and_only_what_the_reader_may_see(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    response = get(server, "/conda/alice/rss.xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml"
    feed = ElementTree.fromstring(response.content)
    assert feed.tag == "rss" and feed.get("version") == "2.0"
    items = {item.findtext("title"): item for item in feed.iter("item")}
    assert set(items) == {"pubpkg 2.0 [noarch]", "repo 1.0 [noarch]"}
    hostile = items["pubpkg 2.0 [noarch]"]
    assert hostile.findtext("description") == HOSTILE_SUMMARY  # text, never markup
    assert hostile.find("link") is None  # javascript: is no link
    assert b"<img" not in response.content and b"<b>" not in response.content
    etag = response.headers["etag"]
    assert get(server, "/conda/alice/rss.xml", **{"If-None-Match": etag}).status_code == 304
    token = get(server, f"/conda/t/{tokens['alice']}/alice/rss.xml")
    titles = {item.findtext("title") for item in ElementTree.fromstring(token.content).iter("item")}
    assert "secretpkg 1.0 [noarch]" in titles
    dev = ElementTree.fromstring(get(server, "/conda/alice/label/dev/rss.xml").content)
    assert [item.findtext("title") for item in dev.iter("item")] == ["pubpkg 2.0 [noarch]"]


def test_in_chromium_badges_render_and_the_pages_filter_and_link(
    server: RunningServer, tokens: dict[str, str]
) -> None:
    images = "".join(
        f'<img id="b{n}" src="{server.url}/alice/pubpkg/badges/{badge}.svg">'
        for n, badge in enumerate(BADGES)
    )
    dialogs: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.set_content(f"<!doctype html><body>{images}</body>", wait_until="load")
        widths = page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
        assert len(widths) == len(BADGES) and all(width > 0 for width in widths), widths
        # the files page: narrowed to one version from its form, as a reader does
        page.goto(f"{server.url}/alice/pubpkg/files")
        page.select_option("select[name=version]", "1.0")
        page.click("form.filters button[type=submit]")
        page.wait_for_load_state()
        assert "version=1.0" in page.url
        assert page.eval_on_selector_all("tr[data-file]", "rows => rows.length") == 1
        # its badges section shows the images under the page's own CSP
        shown = page.eval_on_selector_all(
            "#badges + ul img", "images => images.map(i => i.naturalWidth)"
        )
        assert len(shown) == len(BADGES) and all(width > 0 for width in shown), shown
        # the repo page, then the channel's index page and a subdir by its link
        page.goto(f"{server.url}/alice/repo")
        assert page.locator("tr[data-package]").count() == 3
        page.goto(f"{server.url}/conda/alice/")
        assert page.locator("tr[data-package=pubpkg]").count() == 1
        page.click("text=noarch")
        page.wait_for_load_state()
        assert page.url == f"{server.url}/conda/alice/noarch/"
        assert page.locator("td.filename").count() == 3
        # on a phone, wide tables scroll in their box and nothing else overflows
        page.set_viewport_size(PHONE)
        for path in ("/alice/pubpkg/files", "/alice/repo", "/conda/alice/", "/conda/alice/noarch/"):
            page.goto(server.url + path)
            assert fits_the_screen(page), path
    assert dialogs == []  # no metadata ran as script
