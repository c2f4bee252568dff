"""A running test server's database and storage, opened from the test process: accounts
made without a CLI round trip, packages put in straight through the server's services (so
channel tests do not depend on the upload API), and what the server holds. The server's
SQLite database is in WAL mode, so the test process may write while the server reads."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.server.context import ServerContext
from ophis.server.db.engine import make_engine, make_sessionmaker
from ophis.server.db.models import ChannelRevision, File
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.server.services.intake import ingest, inspection
from ophis.server.storage import open_storage
from ophis.testing.server import PASSWORD, RunningServer


@contextmanager
def database(server: RunningServer) -> Iterator[Session]:
    """A session on the running server's own database."""
    engine = make_engine(server.settings.database)
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    finally:
        engine.dispose()


def add_user(server: RunningServer, login: str) -> str:
    """A new user (password :data:`PASSWORD`), and a token for them."""
    with database(server) as session:
        accounts.create_user(session, login, PASSWORD)
    return server.login(login, PASSWORD)


def add_org(server: RunningServer, login: str, owner: str) -> None:
    """A new organization ``login`` owned by the user ``owner``."""
    with database(server) as session:
        accounts.create_org(session, login, accounts.get_account(session, owner))


def file_rows(server: RunningServer, sha256: str) -> int:
    """How many file rows hold the bytes with ``sha256``."""
    with database(server) as session:
        count = select(func.count()).select_from(File).where(File.sha256 == sha256)
        return session.scalar(count) or 0


def blobs(server: RunningServer, sha256: str) -> list[str]:
    """The storage keys holding the bytes with ``sha256``, on whichever backend."""
    return list(open_storage(server.settings).keys(files.blob_key(sha256, "")))


def leftovers(server: RunningServer) -> list[Path]:
    """Files of uploads in progress (none once every upload ended)."""
    staging = open_storage(server.settings).temp_dir()
    return [p for p in staging.rglob("*") if p.is_file()]


def assert_nothing_stored(server: RunningServer, path: Path) -> None:
    """A refused upload of ``path`` left no row, no blob and no staged leftovers."""
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_rows(server, sha256) == 0
    assert blobs(server, sha256) == [] and leftovers(server) == []


def revisions(server: RunningServer, owner: str) -> dict[tuple[str, str], int]:
    """(label, subdir) -> the revision the repodata caches of that index are keyed by."""
    with database(server) as session:
        account = accounts.get_account(session, owner)
        rows = session.scalars(
            select(ChannelRevision).where(ChannelRevision.owner_id == account.id)
        )
        return {(row.label, row.subdir): row.revision for row in rows}


def changed(before: dict, after: dict) -> set[tuple[str, str]]:
    """The keys of :func:`revisions` whose revision moved between two readings."""
    return {key for key in after if after[key] != before.get(key)}


class ServerDatabase:
    """The server's database and storage, open for the length of a test module."""

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
