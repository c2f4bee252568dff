"""Helpers for the anaconda-client API tests: accounts made straight in the server's
database (no CLI round trip), clients bound to a token, tiny wheels and sdists, and what the
server holds on disk."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.server.conftest import AnacondaClient

from ophis.server.db.engine import make_engine, make_sessionmaker
from ophis.server.db.models import ChannelRevision, File
from ophis.server.services.accounts import accounts
from ophis.server.services.catalog import files
from ophis.server.storage import open_storage
from ophis.testing.server import RunningServer

PASSWORD = "a-password-for-tests"


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
    """A new user, and a token for them."""
    with database(server) as session:
        accounts.create_user(session, login, PASSWORD)
    return server.login(login, PASSWORD)


def add_org(server: RunningServer, login: str, owner: str) -> None:
    with database(server) as session:
        accounts.create_org(session, login, accounts.get_account(session, owner))


def file_rows(server: RunningServer, sha256: str) -> int:
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


def headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"token {token}"} if token else {}


def as_user(client: AnacondaClient, token: str | None) -> AnacondaClient:
    """The same configured client, acting with another token (or none)."""
    other = copy.copy(client)
    other.env = {k: v for k, v in client.env.items() if k != "BINSTAR_API_TOKEN"}
    if token:
        other.env["BINSTAR_API_TOKEN"] = token
    return other


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


def revisions(server: RunningServer, owner: str) -> dict[tuple[str, str], int]:
    """(label, subdir) -> the revision the repodata caches of that index are keyed by."""
    with database(server) as session:
        account = accounts.get_account(session, owner)
        rows = session.scalars(
            select(ChannelRevision).where(ChannelRevision.owner_id == account.id)
        )
        return {(row.label, row.subdir): row.revision for row in rows}


def changed(before: dict, after: dict) -> set[tuple[str, str]]:
    return {key for key in after if after[key] != before.get(key)}
