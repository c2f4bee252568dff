"""Putting packages into a running test server straight through its services, so that the
channel tests do not depend on the upload API. The server's SQLite database is in WAL mode,
so the test process may write while the server reads."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ophis.core.distribution_types import DistributionType
from ophis.server.context import ServerContext
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.server.services.intake import ingest, inspection
from ophis.testing.server import RunningServer


class ServerDatabase:
    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.context = ServerContext.open(server.settings, upgrade=False)

    def user(self, login: str) -> str:
        """A new user (password ``<login>-password``); returns a token (all scopes)."""
        with self.context.sessions() as session:
            accounts.create_user(session, login, f"{login}-password")
        return self.server.login(login, f"{login}-password")

    def add(
        self,
        owner: str,
        path: Path,
        *,
        labels: list[str] | None = None,
        public: bool = True,
        kind: str = DistributionType.CONDA,
    ) -> str:
        """Add a copy of ``path`` (storage moves what it is given); returns its basename."""
        with tempfile.TemporaryDirectory() as scratch:
            copy = Path(shutil.copy(path, scratch))
            with self.context.sessions() as session:
                row = ingest.add_file(
                    session,
                    self.context.storage,
                    accounts.get_account(session, owner),
                    copy,
                    inspection.inspect_file(copy, kind),
                    labels=labels,
                    public=public,
                )
                return row.basename

    def remove(self, owner: str, basename: str) -> None:
        with self.context.sessions() as session:
            row = files.find_file(session, accounts.get_account(session, owner), basename)
            assert row is not None, basename
            files.remove_file(session, self.context.storage, row)

    def set_public(self, owner: str, name: str, public: bool) -> None:
        with self.context.sessions() as session:
            package = files.find_package(session, accounts.get_account(session, owner), name)
            assert package is not None, name
            package.public = public
            session.commit()

    def downloads(self, owner: str, basename: str) -> int:
        """A public file's downloads as anyone reads them (the API's ``ndownloads``): the
        server writes the counts it holds before it answers."""
        with self.context.sessions() as session:
            row = files.find_file(session, accounts.get_account(session, owner), basename)
            assert row is not None, basename
            name, version = row.release.package.name, row.release.version
        response = httpx.get(f"{self.server.api}/dist/{owner}/{name}/{version}/{basename}")
        response.raise_for_status()
        return response.json()["ndownloads"]

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def database(server: RunningServer) -> Iterator[ServerDatabase]:
    """The module's test server's database, opened from the test process."""
    opened = ServerDatabase(server)
    yield opened
    opened.close()
