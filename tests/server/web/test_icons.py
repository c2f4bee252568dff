"""Package icons: the ``info/icon.png`` conda-build puts in a package, kept at upload when it
is a small PNG, served at ``/<owner>/<package>/icon.png`` with the package's visibility, and
shown on the package page and in search results."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.client.upload import UploadOptions, upload
from ophis.core.distribution_types import DistributionType
from ophis.server.services.catalog import files
from ophis.server.services.intake import inspection
from ophis.testing.packages import make_package, tiny_png
from ophis.testing.server import PASSWORD, RunningServer
from ophis.testing.server_db import ServerDatabase
from ophis.testing.web import WebClient, signed_in


@pytest.fixture(scope="module")
def kim(server: RunningServer) -> Iterator[httpx.Client]:
    """An API client for kim, who uploads through the real handshake (stage, commit)."""
    signed_in(server, "kim").close()
    token = server.login("kim", PASSWORD)
    with httpx.Client(base_url=server.api, headers={"Authorization": f"token {token}"}) as api:
        yield api


def icon_tag(name: str) -> str:
    return f'src="/kim/{name}/icon.png"'


def test_an_uploaded_icon_is_served_and_shown(
    server: RunningServer,
    kim: httpx.Client,
    browser: WebClient,
    database: ServerDatabase,
    tmp_path: Path,
) -> None:
    icon = tiny_png(2, 2)
    upload(kim, "kim", make_package(tmp_path, "iconic", icon=icon), UploadOptions())

    served = browser.get("/kim/iconic/icon.png")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    assert served.content == icon
    assert icon_tag("iconic") in browser.get("/kim/iconic").text
    assert icon_tag("iconic") in browser.get("/search", q="iconic").text
    # stored once, by content
    key = files.icon_key(icon)
    assert key == f"icons/{hashlib.sha256(icon).hexdigest()}.png"
    assert database.context.storage.exists(key)

    # a private package's icon is as private as the package
    database.set_public("kim", "iconic", False)
    assert browser.get("/kim/iconic/icon.png").status_code == 404
    kim_browser = signed_in(server, "kim")
    assert kim_browser.get("/kim/iconic/icon.png").content == icon
    kim_browser.close()
    database.set_public("kim", "iconic", True)

    # bytes lost from storage (a partial restore): a 404, not a server error
    database.context.storage.delete(key)
    assert browser.get("/kim/iconic/icon.png").status_code == 404


@pytest.mark.parametrize(
    ("name", "icon"),
    [
        ("plainpkg", None),
        ("hugeicon", tiny_png(padding=inspection.ICON_MAX_BYTES)),  # a PNG, but over the limit
        ("fakeicon", b"<html><script>alert(1)</script></html>"),  # not a PNG at all
    ],
)
def test_no_icon_or_an_unusable_one_gives_no_image(
    kim: httpx.Client, browser: WebClient, tmp_path: Path, name: str, icon: bytes | None
) -> None:
    upload(kim, "kim", make_package(tmp_path, name, icon=icon), UploadOptions())
    page = browser.get(f"/kim/{name}")
    assert page.status_code == 200  # the package itself is accepted
    assert "icon.png" not in page.text
    assert icon_tag(name) not in browser.get("/search", q=name).text
    assert browser.get(f"/kim/{name}/icon.png").status_code == 404


def test_unusable_icons_are_dropped_when_inspected(tmp_path: Path) -> None:
    good = tiny_png()
    assert inspection.usable_icon(good) == good
    assert inspection.usable_icon(tiny_png(padding=inspection.ICON_MAX_BYTES)) is None
    assert inspection.usable_icon(b"GIF89a" + good[6:]) is None
    inspected = inspection.inspect_file(
        make_package(tmp_path, "withicon", icon=good), DistributionType.CONDA
    )
    assert inspected.icon == good
    assert inspected.attrs["icon"] == hashlib.md5(good).hexdigest()  # as conda-build records it
