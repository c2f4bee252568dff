"""A server whose webhook sender looks often and retries soon, and a receiver per test
(helpers: ``ophis.testing.webhooks``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ophis.testing.server import RunningServer
from ophis.testing.webhooks import Receiver, receiving, webhook_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with webhook_server(tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as record:
        yield record
