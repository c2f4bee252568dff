"""Fixtures of the distribution tests: an offline channel that holds Ophis itself (built
here with the builder), its dependencies (wrapped from this virtual environment) and a
small package, and users who cannot reach any network but 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ophis.builder.recipe import host_subdir
from ophis.indexer.channel_index import index_channel
from ophis.testing.bootstrap_channel import (
    OPHIS_DISTRIBUTIONS,
)
from ophis.testing.build_channels import make_build_channel
from ophis.testing.cli import offline_user
from ophis.testing.venv_packages import make_venv_packages

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "ophis"


@pytest.fixture(scope="session")
def small_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python (this interpreter), pip and libdemo 1 and 2, indexed."""
    return make_build_channel(tmp_path_factory.mktemp("small-channel"), host_subdir())


@pytest.fixture(scope="session")
def ophis_channel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small channel, plus Ophis's dependencies and Ophis itself, built from the recipe
    in the repository (not tested here: the installer's tests run it)."""
    channel = make_build_channel(tmp_path_factory.mktemp("ophis-channel"), host_subdir())
    make_venv_packages(OPHIS_DISTRIBUTIONS, channel, host_subdir())
    index_channel(channel)
    # built in a process of its own, as an offline user: no configuration of this machine's
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(RECIPE), str(channel)],
        env=offline_user(tmp_path_factory.mktemp("builder")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return channel


_BUILD = """
import sys
from pathlib import Path
from ophis.distribution.bootstrap import build_ophis_package
from ophis.testing.bootstrap_channel import ophis_run_requirements

recipe, channel = Path(sys.argv[1]), Path(sys.argv[2])
report = build_ophis_package(
    recipe, channel, [channel.as_uri()], run_requirements=ophis_run_requirements(), test=False
)
assert report.packages and not report.broken, report.log
"""


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    return offline_user(tmp_path / "user")
