"""One Ophis Navigator per module, started as the user starts it (``ophis navigator
--no-browser --json``) for an isolated user, and one Debian chromium driving it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.browser import WIDE, chromium
from ophis.testing.navigator import Navigator, running_navigator
from ophis.testing.packages import make_package
from ophis.testing.server import RunningServer, run_server

#: what the notebook package's entry point does: say where it was started, then exit
NOTEBOOK = b'#!/bin/sh\necho "$CONDA_PREFIX" > "$HOME/notebook-started.txt"\n'


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
    with running_navigator(tmp_path_factory.mktemp("nav-user")) as running:
        yield running


@pytest.fixture(scope="module")
def page(navigator: Navigator) -> Iterator[Any]:
    """Chromium, having opened the navigator's link (which spends its one-time token)."""
    with chromium() as browser:
        context = browser.new_context(viewport=WIDE, accept_downloads=True)
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(navigator.url)
        try:
            yield page
        finally:
            context.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """An Ophis channel server to sign in to from the Channels page."""
    with run_server(tmp_path_factory.mktemp("nav-server") / "data") as running:
        yield running


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("navigator-screenshots")
