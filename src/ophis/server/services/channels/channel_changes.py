"""Whether anything a channel's answer depends on may have changed: a counter shared by
every process of one server, that the hot path (:mod:`ophis.server.conda.hot_path`) reads
before reusing what it looked up in the database.

Every connection of the server's engine is watched: a statement that writes one of the
tables in :data:`WATCHED` marks the connection, and when a marked connection goes back to
the pool (after its commit or rollback) the counter changes. So a reader that took the
counter's value before its look-up never keeps the look-up past a write that followed.
Writes that cannot change what a channel serves or to whom (download counts, sessions,
tokens, logs) leave the counter alone, so they do not empty the hot path's memory.
On SQLite the counter lies beside the database file, so every process writing it is seen;
a server database may be written from other hosts, so there the hot path looks a channel
up on every anonymous request unless ``hot_path_seconds`` says otherwise (see
:func:`reuse_seconds`).
"""

from __future__ import annotations

import functools
import mmap
import os
import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, make_url

from ophis.server.privacy import FILE_MODE
from ophis.server.settings import ServerSettings

#: what decides which files a channel lists and who may see them: every change of a
#: channel's files bumps its ``channel_revisions`` row; owners, packages and labels carry
#: who may see them; mirrors decide whether a channel is a proxy
WATCHED = frozenset(
    {
        "accounts",
        "packages",
        "labels",
        "file_labels",
        "channel_revisions",
        "channel_mirrors",
        "channel_policies",
        "policy_hidden_files",
    }
)
_WRITTEN_TABLE = re.compile(
    r'^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE
)
_MARK = "ophis.channel_changed"
_SIZE = 8


class ChangeCounter:
    """Eight bytes in a file of the server's data directory, mapped into memory: reading
    them costs no system call, and every process of the server sees the same value."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        if os.fstat(self._fd).st_size < _SIZE:
            os.pwrite(self._fd, os.urandom(_SIZE), 0)
        self._map = mmap.mmap(self._fd, _SIZE, prot=mmap.PROT_READ)

    def value(self) -> bytes:
        return self._map[:_SIZE]

    def bump(self) -> None:
        """A value no reader holds: random, so that processes need no lock to agree."""
        os.pwrite(self._fd, os.urandom(_SIZE), 0)


@functools.cache
def change_counter(settings: ServerSettings) -> ChangeCounter:
    """The counter of a server (one per process). On SQLite it lies beside the database
    file, so that every process writing that database (other servers with their own data
    directories included) bumps the one its readers read; otherwise in the data directory."""
    database = make_url(settings.database)
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        sqlite_file = Path(database.database)
        return ChangeCounter(sqlite_file.with_name(f"{sqlite_file.name}.channel-changes"))
    return ChangeCounter(settings.data_dir / "channel-changes")


def reuse_seconds(settings: ServerSettings) -> float:
    """How long the hot path may reuse a look-up without a change: ``hot_path_seconds``
    when set; else 1 s on SQLite (every writer bumps the shared counter: the time only
    bounds memory), and 0 on a server database, which servers on other hosts may write
    without this host's counter knowing (so every anonymous request looks its channel up)."""
    if settings.hot_path_seconds is not None:
        return settings.hot_path_seconds
    return 1.0 if make_url(settings.database).get_backend_name() == "sqlite" else 0.0


def watch(engine: Engine, counter: ChangeCounter) -> None:
    """Bump ``counter`` after every transaction of ``engine`` that wrote a watched table."""
    engine = getattr(engine, "sync_engine", engine)  # an AsyncEngine's events are its sync one's
    if getattr(engine, "_ophis_watched", False):  # one engine may be opened twice
        return
    engine._ophis_watched = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "before_cursor_execute")
    def mark(connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        match = _WRITTEN_TABLE.match(statement)
        if match and match.group(1).lower() in WATCHED:
            connection.info[_MARK] = True

    @event.listens_for(engine, "checkin")
    def changed(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_MARK, False):
            counter.bump()
