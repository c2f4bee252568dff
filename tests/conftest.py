"""Fixtures shared by all of Ophis's tests. Keep each one small and documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.testing.packages import testdata_dir


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The shared real test data (see ``ophis.testing.packages.testdata_dir``).

    Fails, rather than skips, when it cannot be found: a silently skipped test proves nothing.
    """
    try:
        return testdata_dir()
    except FileNotFoundError as error:
        pytest.fail(str(error))


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
