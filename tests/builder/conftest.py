"""Fixtures of the builder's tests: an offline channel to build against, and ``ophis``
run as an isolated user who cannot reach any network but 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.builder.recipe import host_subdir
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import isolated_user


def offline_user(folder: Path) -> dict[str, str]:
    """:func:`isolated_user` with every proxy pointing at a closed local port: a build that
    tried to reach conda-forge (or anything) would fail instead of downloading."""
    env = isolated_user(folder)
    closed = "http://127.0.0.1:9"
    env.update(
        http_proxy=closed,
        https_proxy=closed,
        HTTP_PROXY=closed,
        HTTPS_PROXY=closed,
        all_proxy=closed,
        ALL_PROXY=closed,
        no_proxy="127.0.0.1,localhost",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


@pytest.fixture(scope="session")
def build_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python (this interpreter), pip and libdemo 1 and 2, indexed."""
    return make_build_channel(tmp_path_factory.mktemp("build-channel"), host_subdir())


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return offline_user(tmp_path_factory.mktemp("builder"))
