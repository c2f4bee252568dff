"""Fixtures of the anaconda-client API tests: the administrator's token, ``anaconda`` and an
HTTP client acting with it (helpers: ``ophis.testing.anaconda_client``, ``.server_db``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ophis.testing.anaconda_client import AnacondaClient, as_user
from ophis.testing.http import headers
from ophis.testing.server import RunningServer


@pytest.fixture(scope="module")
def admin_token(server: RunningServer) -> str:
    return server.login()


@pytest.fixture(scope="module")
def cli(
    server: RunningServer, admin_token: str, tmp_path_factory: pytest.TempPathFactory
) -> AnacondaClient:
    """``anaconda`` acting as the administrator, configured once per module."""
    return as_user(AnacondaClient(server, tmp_path_factory.mktemp("anaconda")), admin_token)


@pytest.fixture(scope="module")
def api(server: RunningServer, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.api, headers=headers(admin_token)) as client:
        yield client
