"""The index cache: what was read from each package file, keyed by its stat.

Stored in SQLite at ``<channel>/.cache/ophis-index.sqlite`` so that re-indexing a channel
of 10,000 packages after adding one re-reads one archive. A row is trusted while the
file's size and modification time are unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA_VERSION = "2"  # 2: records are type-checked (older caches may hold unchecked ones)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS package (
    subdir TEXT NOT NULL,
    filename TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    record TEXT NOT NULL,
    facts TEXT NOT NULL,
    PRIMARY KEY (subdir, filename)
);
CREATE TABLE IF NOT EXISTS subdir_state (
    subdir TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class CachedPackage:
    filename: str
    mtime_ns: int
    size: int
    record: dict[str, Any]
    facts: dict[str, Any]


class IndexCache:
    """One SQLite file per channel; every write happens in one transaction."""

    @classmethod
    def for_channel(cls, channel_dir: Path) -> IndexCache:
        return cls(channel_dir / ".cache" / "ophis-index.sqlite")

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)
            if self._schema_version() != SCHEMA_VERSION:
                self._db.execute("DELETE FROM package")
                self._db.execute("DELETE FROM subdir_state")
                self._db.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )

    def _schema_version(self) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return row[0] if row else None

    def packages(self, subdir: str) -> dict[str, CachedPackage]:
        rows = self._db.execute(
            "SELECT filename, mtime_ns, size, record, facts FROM package WHERE subdir=?",
            (subdir,),
        )
        return {
            row[0]: CachedPackage(
                row[0], row[1], row[2], orjson.loads(row[3]), orjson.loads(row[4])
            )
            for row in rows
        }

    def replace(
        self, subdir: str, upserts: Iterable[CachedPackage], deletions: Iterable[str]
    ) -> None:
        with self._db:
            self._db.executemany(
                "DELETE FROM package WHERE subdir=? AND filename=?",
                ((subdir, filename) for filename in deletions),
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO package VALUES (?, ?, ?, ?, ?, ?)",
                _rows(subdir, upserts),
            )

    def fingerprint(self, subdir: str) -> str | None:
        row = self._db.execute(
            "SELECT fingerprint FROM subdir_state WHERE subdir=?", (subdir,)
        ).fetchone()
        return row[0] if row else None

    def set_fingerprint(self, subdir: str, fingerprint: str) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO subdir_state VALUES (?, ?)", (subdir, fingerprint)
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IndexCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rows(subdir: str, packages: Iterable[CachedPackage]) -> Iterator[tuple]:
    for p in packages:
        yield (
            subdir,
            p.filename,
            p.mtime_ns,
            p.size,
            orjson.dumps(p.record, option=orjson.OPT_SORT_KEYS),
            orjson.dumps(p.facts, option=orjson.OPT_SORT_KEYS),
        )
