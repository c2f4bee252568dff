"""A server whose mirror and proxy channels the tests sync by hand, and a new account per
test (helpers: ``ophis.testing.mirror``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ophis.testing.mirror import follower, mirroring_server
from ophis.testing.server import RunningServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The mirroring server, without its runner: these tests sync by hand."""
    with mirroring_server(tmp_path_factory.mktemp("mirroring")) as running:
        yield running


@pytest.fixture
def owner(server: RunningServer) -> str:
    """A new user per test: each test has channels of its own."""
    return follower(server)
