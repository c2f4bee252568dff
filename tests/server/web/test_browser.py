"""The web site in a real browser: Debian's chromium driven by Playwright.

A new user signs up, signs in, makes a token, uploads with the real ``anaconda`` client and
that token, finds the package by search, reads its install command, makes it private, and a
second, signed-out browser gets 404 for it. Screenshots of the home, package and tokens
pages land in a temporary folder whose paths are printed (``pytest tests/server/web -s``).

No skip: without chromium this test fails and says how to install it (CI installs it
through ``scripts/system-deps.sh``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ophis.security.tokens import PREFIX as TOKEN_PREFIX
from ophis.testing.anaconda_client import AnacondaClient
from ophis.testing.browser import PHONE, WIDE, chromium, fits_the_screen
from ophis.testing.packages import conda_package
from ophis.testing.server import PASSWORD, RunningServer


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def shoot(page: Any, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_sign_up_upload_find_and_hide_a_package_in_a_browser(
    server: RunningServer, anaconda: AnacondaClient, screenshots: Path, tmp_path: Path
) -> None:
    with chromium() as browser:
        context = browser.new_context(viewport=WIDE)
        context.set_default_timeout(15_000)
        page = context.new_page()
        sign_up_and_in(page, server.url)
        token = create_token(page, screenshots)
        upload(anaconda, token, tmp_path)
        find_and_read_install_command(page, server.url, screenshots)
        make_private(page, server.url)
        stranger = browser.new_context(viewport=PHONE)
        assert_invisible_when_signed_out(stranger.new_page(), server.url)
        stranger.close()
        context.close()


def sign_up_and_in(page: Any, url: str) -> None:
    page.goto(f"{url}/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("User name").fill("webuser")
    page.get_by_label("Full name").fill("Web User")
    page.get_by_label("Email").fill("web@example.org")
    page.get_by_label("Password", exact=False).first.fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login?created=webuser")
    assert page.get_by_label("User name").input_value() == "webuser"
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/")
    assert page.get_by_role("navigation", name="Account").get_by_text("webuser").is_visible()


def create_token(page: Any, screenshots: Path) -> str:
    """A token that may upload, read from the page that shows it once."""
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name", exact=True).fill("browser upload")
    page.locator('input[name="scopes"][value="api"]').check()
    page.get_by_label("Expires after").select_option("1d")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").inner_text().strip()
    assert token.startswith(f"{TOKEN_PREFIX}-")
    assert page.get_by_role("cell", name="browser upload", exact=True).is_visible()
    shoot(page, screenshots, "tokens")
    return token


def upload(anaconda: AnacondaClient, token: str, folder: Path) -> None:
    """The real anaconda client, with the token made in the browser."""
    path = conda_package(
        folder,
        "browserpkg",
        "1.2",
        summary="Uploaded during the browser test",
        license="MIT",
        home="https://example.org/browserpkg",
    )
    anaconda("-t", token, "upload", str(path), check=True)


def find_and_read_install_command(page: Any, url: str, screenshots: Path) -> None:
    page.goto(f"{url}/")
    shoot(page, screenshots, "home")
    search = page.get_by_role("searchbox").first
    search.fill("browserpkg")
    search.press("Enter")
    page.wait_for_url("**/search?q=browserpkg")
    page.get_by_role("link", name="webuser / browserpkg").first.click()
    page.wait_for_url(f"{url}/webuser/browserpkg")
    assert page.get_by_text("Uploaded during the browser test").first.is_visible()
    command = page.locator('code[data-tool="conda"]').inner_text()
    assert command == f"conda install -c {url}/conda/webuser browserpkg"
    shoot(page, screenshots, "package")
    page.set_viewport_size(PHONE)
    assert fits_the_screen(page), "the package page scrolls sideways on a phone"
    shoot(page, screenshots, "package-phone")
    page.set_viewport_size(WIDE)


def make_private(page: Any, url: str) -> None:
    # a post without the page's CSRF token is refused, even with the session cookie
    forged = page.request.post(f"{url}/webuser/browserpkg/visibility", form={"public": "false"})
    assert forged.status == 403
    page.get_by_role("button", name="Make private").click()
    page.wait_for_url(f"{url}/webuser/browserpkg")
    assert page.get_by_role("button", name="Make public").is_visible()
    assert page.get_by_text("private", exact=True).first.is_visible()


def assert_invisible_when_signed_out(page: Any, url: str) -> None:
    response = page.goto(f"{url}/webuser/browserpkg")
    assert response is not None and response.status == 404
    assert page.get_by_role("heading", name="There is nothing here.").is_visible()
    assert "browserpkg" not in page.content()
    page.goto(f"{url}/search?q=browserpkg")
    assert page.get_by_text("Nothing matches.").is_visible()
    assert fits_the_screen(page)
