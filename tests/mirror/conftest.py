"""An upstream channel for the mirror tests (helpers: ``ophis.testing.mirror``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.testing.mirror import add_package, reindex


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """An indexed channel: three packages in noarch, one in linux-64."""
    channel = tmp_path / "upstream"
    add_package(channel, "alpha", "1.0")
    add_package(channel, "alpha", "2.0")
    add_package(channel, "beta", "0.5", license="MIT")
    add_package(channel, "gamma", "3.1", subdir="linux-64")
    reindex(channel)
    return channel
