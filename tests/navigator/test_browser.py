"""Ophis Navigator in a real browser: Debian's chromium driven by Playwright, against
``ophis navigator`` started for an isolated user.

Through the pages only, a user adds a local channel, creates an environment from it,
installs a package, sees it in the table, removes it, updates one, exports the environment, clones,
imports and removes environments, installs and launches an application; every step is
checked on disk (conda-meta, .condarc). A failed solve shows what was wrong and changes
nothing. Requests without the navigator's cookie get 403. Screenshots of each view land in
a temporary folder whose paths are printed (``pytest tests/navigator -s``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from playwright.sync_api import expect
from ruamel.yaml import YAML

from ophis.client.auth import read_tokens
from ophis.testing.cli import ophis
from ophis.testing.navigator import Navigator
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer


def shoot(page: Any, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def installed(prefix: Path) -> set[str]:
    """name-version-build of every package conda-meta records."""
    return {p.stem for p in (prefix / "conda-meta").glob("*.json")}


def condarc_channels(navigator: Navigator) -> list[str]:
    document = YAML(typ="safe").load((navigator.home / ".condarc").read_text()) or {}
    return list(document.get("channels") or [])


def apply_and_wait(page: Any) -> None:
    """Confirm the plan on screen, then wait for the job page to say it is done."""
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("section.job")).to_have_attribute("data-state", "done", timeout=30_000)


def view(page: Any, name: str) -> None:
    """Go to one of the views through the header's navigation."""
    page.get_by_role("navigation", name="Views").get_by_role("link", name=name).click()


def open_environment(page: Any, name: str, show: str = "installed") -> None:
    view(page, "Environments")
    page.locator(f'tr[data-env="{name}"]').get_by_role("link", name=name).click()
    if show != "installed":
        page.get_by_role("navigation", name="Filter").get_by_role("link", name=show).click()


def test_the_link_works_once_and_nothing_gets_in_without_it(
    navigator: Navigator, page: Any
) -> None:
    expect(page.get_by_role("heading", name="Applications")).to_be_visible()
    assert "token=" not in page.url  # exchanged for a cookie, and out of the address bar
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=navigator.root, follow_redirects=False, timeout=10) as stranger:
        assert stranger.get("/environments").status_code == 403
        assert stranger.get(navigator.url.split(navigator.root, 1)[1]).status_code == 403
        assert stranger.get("/?token=wrong").status_code == 403
        refused = stranger.post("/channels/add", data={"channel": "evil"})
        assert refused.status_code == 403 and "sign-in link" in refused.text
    with httpx.Client(base_url=navigator.root, cookies=cookies, timeout=10) as browser_twin:
        assert browser_twin.get("/environments").status_code == 200
        host = browser_twin.get("/environments", headers={"Host": "evil.example"})
        assert host.status_code == 403  # DNS rebinding: only loopback names are served
        other_site = browser_twin.post(
            "/channels/add", data={"channel": "evil"}, headers={"Origin": "http://evil.example"}
        )
        assert other_site.status_code == 403
    assert not (navigator.home / ".condarc").exists()


def test_channels_are_added_ordered_and_removed_in_condarc(
    navigator: Navigator, page: Any, channel: Path, screenshots: Path
) -> None:
    view(page, "Channels")
    for name in (channel.as_uri(), "extra-channel"):
        page.get_by_label("Channel", exact=True).fill(name)
        page.get_by_label("Where").select_option("bottom")
        page.get_by_role("button", name="Add").click()
    assert condarc_channels(navigator) == [channel.as_uri(), "extra-channel"]
    page.locator('tr[data-channel="extra-channel"]').get_by_role("button", name="Up").click()
    assert condarc_channels(navigator) == ["extra-channel", channel.as_uri()]
    expect(page.locator("tr[data-channel]").first).to_have_attribute(
        "data-channel", "extra-channel"
    )
    shoot(page, screenshots, "channels")
    page.locator('tr[data-channel="extra-channel"]').get_by_role("button", name="Remove").click()
    assert condarc_channels(navigator) == [channel.as_uri()]
    expect(page.locator('tr[data-channel="extra-channel"]')).to_have_count(0)


def test_create_install_see_remove_and_export_in_the_gui(
    navigator: Navigator, page: Any, screenshots: Path
) -> None:
    prefix = navigator.envs_dir / "ds"
    view(page, "Environments")
    form = page.locator("form#create")
    form.get_by_label("Name").fill("ds")
    form.get_by_label("Language").select_option("none")
    form.get_by_label("Other packages").fill("numeric=2.0")
    form.get_by_role("button", name="Create…").click()
    # the solve result first, and nothing on disk yet
    expect(page.locator('table.plan tr[data-package="numeric"]')).to_contain_text("2.0-0")
    expect(page.locator('table.plan tr[data-package="libcore"]')).to_contain_text("install")
    assert not prefix.exists()
    shoot(page, screenshots, "confirm-create")
    apply_and_wait(page)
    assert installed(prefix) == {"numeric-2.0-0", "libcore-1.2-0"}
    job = page.request.get(page.url.split("?")[0] + ".json").json()  # the polling endpoint
    assert job["state"] == "done" and job["title"] == "Create environment ds"

    open_environment(page, "ds")
    expect(page.locator('table.packages tr[data-package="numeric"]')).to_contain_text("2.0-0")
    page.get_by_role("link", name="Updatable").click()
    expect(page.locator('tr[data-package="numeric"]')).to_contain_text("2.1")
    expect(page.locator('tr[data-package="libcore"]')).to_have_count(0)

    page.get_by_role("link", name="Not installed").click()
    page.get_by_label("Select plotting").check()
    page.get_by_role("button", name="Install selected…").click()
    expect(page.locator('table.plan tr[data-package="plotting"]')).to_contain_text("install")
    assert "plotting-0.9-0" not in installed(prefix)
    apply_and_wait(page)
    assert "plotting-0.9-0" in installed(prefix)

    page.get_by_role("link", name="Open ds").click()
    row = page.locator('table.packages tr[data-package="plotting"]')
    expect(row).to_contain_text("0.9-0")
    shoot(page, screenshots, "environment-packages")
    page.get_by_label("Search packages").fill("plot")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("table.packages tr[data-package]")).to_have_count(1)

    page.get_by_label("Select plotting").check()
    page.get_by_role("button", name="Remove selected…").click()
    expect(page.locator('table.plan tr[data-package="plotting"]')).to_contain_text("remove")
    apply_and_wait(page)
    assert installed(prefix) == {"numeric-2.0-0", "libcore-1.2-0"}
    page.get_by_role("link", name="Open ds").click()
    expect(page.locator('table.packages tr[data-package="plotting"]')).to_have_count(0)

    page.get_by_role("link", name="Updatable").click()
    page.get_by_label("Select numeric").check()
    page.get_by_role("button", name="Update selected…").click()
    update = page.locator('table.plan tr[data-package="numeric"]')
    expect(update).to_contain_text("update")
    expect(update).to_contain_text("2.1-0")
    apply_and_wait(page)
    assert installed(prefix) == {"numeric-2.1-0", "libcore-1.2-0"}
    page.get_by_role("link", name="Open ds").click()

    with page.expect_download() as download:
        page.get_by_role("link", name="Export environment.yml").click()
    exported = YAML(typ="safe").load(Path(download.value.path()).read_text())
    assert exported["name"] == "ds"
    assert sorted(exported["dependencies"]) == ["libcore=1.2=0", "numeric=2.1=0"]


def test_a_failed_solve_shows_what_went_wrong_and_changes_nothing(
    navigator: Navigator, page: Any, screenshots: Path
) -> None:
    prefix = navigator.envs_dir / "ds"
    before = installed(prefix), sorted(p.name for p in prefix.rglob("*"))
    open_environment(page, "ds", show="Not installed")
    page.get_by_label("Select broken").check()
    page.get_by_role("button", name="Install selected…").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("no-such-library")
    expect(page.get_by_text("Nothing was changed.")).to_be_visible()
    shoot(page, screenshots, "failed-solve")
    assert (installed(prefix), sorted(p.name for p in prefix.rglob("*"))) == before


def test_clone_import_and_remove_environments(
    navigator: Navigator, page: Any, tmp_path: Path, screenshots: Path
) -> None:
    source = navigator.envs_dir / "ds"
    open_environment(page, "ds")
    page.get_by_label("Clone as").fill("ds-copy")
    page.get_by_role("button", name="Clone…").click()
    apply_and_wait(page)
    assert installed(navigator.envs_dir / "ds-copy") == installed(source)

    explicit = tmp_path / "explicit.txt"
    urls = sorted((source / "conda-meta").glob("*.json"))
    explicit.write_text("@EXPLICIT\n" + "".join(f"{_url(p)}\n" for p in urls), encoding="utf-8")
    view(page, "Environments")
    form = page.locator("form#import")
    form.get_by_label("environment.yml or @EXPLICIT file").set_input_files(str(explicit))
    form.get_by_label("Name").fill("ds-exact")
    form.get_by_role("button", name="Import…").click()
    apply_and_wait(page)
    assert installed(navigator.envs_dir / "ds-exact") == installed(source)

    exported = tmp_path / "environment.yml"
    exported.write_text(
        page.request.get(f"{navigator.root}/environment/export?prefix={source}").text()
    )
    view(page, "Environments")
    form.get_by_label("environment.yml or @EXPLICIT file").set_input_files(str(exported))
    form.get_by_label("Name").fill("ds-yml")
    form.get_by_role("button", name="Import…").click()
    apply_and_wait(page)
    assert installed(navigator.envs_dir / "ds-yml") == installed(source)

    view(page, "Environments")
    shoot(page, screenshots, "environments")
    open_environment(page, "ds-copy")
    page.get_by_role("button", name="Remove…").click()
    expect(page.get_by_text("will be deleted")).to_be_visible()
    expect(page.locator('table.plan tr[data-package="libcore"]')).to_contain_text("remove")
    apply_and_wait(page)
    assert not (navigator.envs_dir / "ds-copy").exists()
    view(page, "Environments")
    expect(page.locator('tr[data-env="ds-copy"]')).to_have_count(0)


def _url(record_file: Path) -> str:
    import json

    return json.loads(record_file.read_text())["url"]


def test_progress_is_shown_while_the_change_runs(
    navigator: Navigator, page: Any, screenshots: Path
) -> None:
    prefix = navigator.envs_dir / "ds"
    install_selected(page, "ds", "slowpkg")
    page.get_by_role("button", name="Apply").click()
    job = page.locator("section.job")
    expect(job).to_have_attribute("data-state", "running")
    expect(job.locator("progress")).to_be_visible()
    shoot(page, screenshots, "job-progress")
    expect(job).to_have_attribute("data-state", "done", timeout=30_000)  # it refreshes itself
    assert "slowpkg-1.0-0" in installed(prefix)


def test_a_failed_transaction_shows_the_error_and_rolls_back(
    navigator: Navigator, page: Any, screenshots: Path
) -> None:
    prefix = navigator.envs_dir / "ds"
    before = installed(prefix), sorted(p.name for p in prefix.rglob("*"))
    install_selected(page, "ds", "failing")
    page.get_by_role("button", name="Apply").click()
    job = page.locator("section.job")
    expect(job).to_have_attribute("data-state", "failed", timeout=30_000)
    expect(job.get_by_role("alert")).to_contain_text("failing")
    shoot(page, screenshots, "failed-transaction")
    assert (installed(prefix), sorted(p.name for p in prefix.rglob("*"))) == before


def install_selected(page: Any, environment: str, package: str) -> None:
    """Tick a package that is not installed and ask to install it: the plan page shows."""
    open_environment(page, environment, show="Not installed")
    page.get_by_label(f"Select {package}").check()
    page.get_by_role("button", name="Install selected…").click()
    expect(page.locator(f'table.plan tr[data-package="{package}"]')).to_contain_text("install")


def test_home_installs_and_launches_an_application(
    navigator: Navigator, page: Any, screenshots: Path
) -> None:
    prefix = navigator.envs_dir / "ds"
    view(page, "Home")
    page.get_by_label("Environment").select_option(str(prefix))
    page.get_by_role("button", name="Show").click()
    card = page.locator('article[data-app="notebook"]')
    card.get_by_role("button", name="Install").click()
    expect(page.locator('table.plan tr[data-package="notebook"]')).to_contain_text("install")
    apply_and_wait(page)
    assert "notebook-7.1-0" in installed(prefix)

    page.get_by_role("link", name="Applications").click()
    page.locator('article[data-app="notebook"]').get_by_role("button", name="Launch").click()
    started = navigator.home / "notebook-started.txt"
    deadline = time.monotonic() + 10
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert started.read_text().strip() == str(prefix)  # ran inside the activated environment
    expect(page.locator("section.launched")).to_contain_text("Jupyter Notebook")
    shoot(page, screenshots, "home")


def test_sign_in_to_an_ophis_server_keeps_the_token_where_ophis_login_does(
    navigator: Navigator, page: Any, server: RunningServer, screenshots: Path, tmp_path: Path
) -> None:
    view(page, "Channels")
    form = page.locator("form#sign-in")
    form.get_by_label("Server URL").fill(server.url)
    form.get_by_label("User name").fill(server.admin)
    form.get_by_label("Password").fill("not-the-password")
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("refused the user name or password")

    view(page, "Channels")
    form.get_by_label("Server URL").fill(server.url)
    form.get_by_label("User name").fill(server.admin)
    form.get_by_label("Password").fill(server.password)
    form.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status")).to_contain_text(f"Signed in to {server.api}")
    token = read_tokens(navigator.env)[f"{server.url}/conda"]  # conda's and anaconda's file
    ophis_file = navigator.home / "ophis" / "tokens" / f"{quote_plus(server.api)}.token"
    assert ophis_file.read_text() == token
    assert httpx.get(f"{server.api}/user", headers={"Authorization": f"token {token}"}).is_success
    assert server.password not in (navigator.home / "ophis" / "client.yml").read_text()
    shoot(page, screenshots, "channels-signed-in")

    # the token works for a private channel: `ophis upload` and the GUI's installs use it
    package = make_package(tmp_path, "secretpkg", "1.0", files={"lib/secret.txt": b"s\n"})
    assert ophis(navigator.env, "upload", "--private", str(package), "--json").returncode == 0
    anonymous = httpx.get(f"{server.conda('admin')}/noarch/repodata.json")
    assert "secretpkg" not in anonymous.text
    page.get_by_label("Channel", exact=True).fill(server.conda("admin"))
    page.get_by_role("button", name="Add").click()
    install_selected(page, "ds", "secretpkg")
    apply_and_wait(page)
    assert "secretpkg-1.0-0" in installed(navigator.envs_dir / "ds")
    view(page, "Channels")
    page.locator(f'tr[data-channel="{server.conda("admin")}"]').get_by_role(
        "button", name="Remove"
    ).click()

    page.locator("ul.servers").get_by_role("button", name="Sign out").click()
    assert not ophis_file.exists()
    assert f"{server.url}/conda" not in read_tokens(navigator.env)


@pytest.fixture(autouse=True)
def _no_error_left(navigator: Navigator) -> None:
    """The navigator must still be running after each test."""
    assert navigator.process.poll() is None
