"""One Ophis Navigator per module, started as the user starts it (``ophis navigator
--no-browser --json``) for an isolated user, and one Debian chromium driving it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

CHROMIUM = Path("/usr/bin/chromium")
#: Playwright's own browser download does not work here; Debian's chromium, headless
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: what the notebook package's entry point does: say where it was started, then exit
NOTEBOOK = b'#!/bin/sh\necho "$CONDA_PREFIX" > "$HOME/notebook-started.txt"\n'


@dataclass
class Navigator:
    url: str  #: with its one-time token
    root: str  #: http://127.0.0.1:PORT
    env: dict[str, str]
    home: Path
    envs_dir: Path
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local channel: a small dependency chain, a newer build to update to, an app with an
    entry point, a package whose dependency exists nowhere, and two with link scripts."""
    root = tmp_path_factory.mktemp("nav-channel") / "science"
    noarch = root / "noarch"
    noarch.mkdir(parents=True)
    make_package(noarch, "libcore", "1.2", files={"lib/core.txt": b"core\n"})
    make_package(noarch, "numeric", "2.0", depends=["libcore >=1"], files={"lib/n.txt": b"n\n"})
    make_package(noarch, "numeric", "2.1", depends=["libcore >=1"], files={"lib/n.txt": b"n2\n"})
    make_package(noarch, "plotting", "0.9", depends=["numeric"], files={"lib/p.txt": b"p\n"})
    make_package(noarch, "notebook", "7.1", files={"bin/jupyter-notebook": NOTEBOOK})
    make_package(noarch, "broken", "1.0", depends=["no-such-library >=9"])
    # link scripts: one slow enough to watch the progress page, one that fails mid-way
    make_package(noarch, "slowpkg", "1.0", files={"bin/.slowpkg-post-link.sh": b"sleep 2\n"})
    failing = {"lib/failing.txt": b"f\n", "bin/.failing-post-link.sh": b"exit 3\n"}
    make_package(noarch, "failing", "1.0", depends=["libcore"], files=failing)
    index_channel(root)
    return root


@pytest.fixture(scope="module")
def navigator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Navigator]:
    folder = tmp_path_factory.mktemp("nav-user")
    env = {
        k: v
        for k, v in isolated_user(folder).items()
        if not k.startswith(("BINSTAR", "ANACONDA", "PYTHON_KEYRING", "XDG"))
    }
    home = Path(env["HOME"])
    # tokens in files under this HOME only, never in the machine's keyring
    env.update(
        BINSTAR_CONFIG_DIR=str(home / "binstar"),
        OPHIS_CLIENT_CONFIG_DIR=str(home / "ophis"),
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    log = (folder / "navigator.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "ophis", "navigator", "--no-browser", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            pytest.fail(f"ophis navigator did not start: {(folder / 'navigator.log').read_text()}")
        url = json.loads(line)["url"]
        yield Navigator(
            url=url,
            root=url.split("/?", 1)[0],
            env=env,
            home=home,
            envs_dir=Path(env["OPHIS_ROOT_PREFIX"]) / "envs",
            process=process,
        )
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def page(navigator: Navigator) -> Iterator[Any]:
    """Chromium, having opened the navigator's link (which spends its one-time token)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"The navigator's browser tests need Debian's chromium at {CHROMIUM}: install it "
            "with `apt-get install -y chromium` (scripts/system-deps.sh does, as root).",
            pytrace=False,
        )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The browser tests need Playwright: `pip install -e '.[test]'`.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(navigator.url)
        try:
            yield page
        finally:
            context.close()
            browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An Ophis channel server to sign in to from the Channels page."""
    with run_server(tmp_path_factory.mktemp("nav-server") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("navigator-screenshots")
