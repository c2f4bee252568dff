"""Fixtures of the builder's tests: an offline channel to build against, and ``ophis``
run as an isolated user who cannot reach any network but 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from ophis.builder.recipe import host_subdir
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import offline_user


@pytest.fixture(scope="session")
def build_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python (this interpreter), pip and libdemo 1 and 2, indexed."""
    return make_build_channel(tmp_path_factory.mktemp("build-channel"), host_subdir())


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return offline_user(tmp_path_factory.mktemp("builder"))
