"""Fixtures shared by all of Ophis's tests. Keep each one small and documented."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from ophis.indexer.channel_index import index_channel
from ophis.testing.cli import isolated_user
from ophis.testing.packages import testdata_dir

#: the tests' servers mirror upstreams and send webhooks to receivers on 127.0.0.1, which a
#: server refuses by default (``ophis.server.outbound``); the tests of that refusal start
#: their servers without this
os.environ.setdefault("OPHIS_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8")


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared real test data (see ``ophis.testing.packages.testdata_dir``).

    Fails, rather than skips, when it cannot be found: a silently skipped test proves nothing.
    """
    try:
        return testdata_dir()
    except FileNotFoundError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def recipes(testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conda's test-recipes channel (noarch, linux-fake, ...), copied and indexed by ophis."""
    root = tmp_path_factory.mktemp("channels") / "test-recipes"
    shutil.copytree(testdata / "conda" / "test-recipes", root)
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    index_channel(root)
    return root


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """An isolated user for ``ophis`` (see ``ophis.testing.cli.isolated_user``)."""
    return isolated_user(tmp_path)


@pytest.fixture
def tmp_channel(tmp_path: Path) -> Path:
    """An empty local channel folder with a ``noarch/`` subdir, under ``tmp_path``."""
    channel = tmp_path / "channel"
    (channel / "noarch").mkdir(parents=True)
    return channel


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Release py-rattler objects before interpreter shutdown (see ophis.cli.main)."""
    from ophis.cli.main import release_native_objects

    release_native_objects()
