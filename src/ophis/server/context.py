"""What one running server holds: its settings, database and storage."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ophis.server.admission import PoolSize
from ophis.server.db.engine import make_engine, make_sessionmaker, migrate
from ophis.server.privacy import private_dir, secure_data_dir
from ophis.server.services.channels.channel_changes import change_counter, watch
from ophis.server.services.trust.signing import SECRET_FILE as SIGNING_SECRET
from ophis.server.settings import SQLITE_NAME, ServerSettings
from ophis.server.storage import open_storage
from ophis.server.storage.interfaces import Storage


@dataclass
class ServerContext:
    settings: ServerSettings
    engine: Engine
    sessions: sessionmaker[Session]
    storage: Storage

    @classmethod
    def open(cls, settings: ServerSettings, *, upgrade: bool = True) -> ServerContext:
        """Create the data directory (private to the server), bring the schema up to date
        (unless the caller did, before starting several workers), open the storage."""
        sqlite_file = settings.data_dir / SQLITE_NAME if settings.database_url is None else None
        secure_data_dir(settings.data_dir, sqlite_file)
        private_dir(settings.cache_dir)
        if upgrade:
            migrate(settings.database)
        storage = open_storage(settings)  # first: it may refuse (no bucket), with no engine open
        pool = PoolSize.for_settings(settings)
        engine = make_engine(settings.database, pool.pool_size, pool.max_overflow)
        # writes by any process opening the server (CLI commands too) end the hot path's
        # reuse of channel look-ups
        watch(engine, change_counter(settings))
        sessions = make_sessionmaker(engine)
        # the upload path signs files: its sessions reach the secret of the signing keys
        sessions.configure(info={"signing_secret": settings.data_dir / SIGNING_SECRET})
        return cls(settings=settings, engine=engine, sessions=sessions, storage=storage)

    def close(self) -> None:
        self.engine.dispose()
