"""Engines and sessions for SQLite (the embedded default) and PostgreSQL, and schema
migrations through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """An engine whose pool keeps ``pool_size`` connections and opens up to
    ``max_overflow`` more when asked (the server sizes both with the requests it admits,
    :mod:`ophis.server.admission`)."""
    pool = {"pool_size": pool_size, "max_overflow": max_overflow}
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, connect_args=connect_args, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    # WAL lets readers (repodata requests) go on while an upload writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    command.upgrade(_alembic_config(url), "head")


@dataclass(frozen=True)
class SchemaStatus:
    #: the database's revision (None: an empty database)
    current: str | None
    head: str
    #: revisions an upgrade would apply, oldest first
    pending: list[str]


def schema_status(url: str) -> SchemaStatus:
    """Where the database at ``url`` stands against the newest schema; changes nothing."""
    scripts = ScriptDirectory.from_config(_alembic_config(url))
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    head = scripts.get_current_head()
    assert head is not None
    pending = [s.revision for s in scripts.iterate_revisions(head, current or "base")]
    return SchemaStatus(current, head, pending[::-1])


def upsert(session: Session, table: Any) -> Any:
    """``INSERT`` for ``table`` with ``on_conflict_do_update`` (both engines have it, each
    through its own dialect's construct)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One database transaction: committed on success, rolled back on any error."""
    with factory() as session, session.begin():
        yield session
