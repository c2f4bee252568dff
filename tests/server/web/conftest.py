"""A browser's view of the web site over plain HTTP, per test (see ``ophis.testing.web``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ophis.testing.server import RunningServer
from ophis.testing.web import WebClient


@pytest.fixture
def browser(server: RunningServer) -> Iterator[WebClient]:
    client = WebClient(server)
    yield client
    client.close()
