"""Staged uploads on disk: where a stage's file waits for its commit, how much one user may
keep waiting, and the purge of stages never committed.

A stage holds up to ``max_upload_bytes`` until it is committed or expires (after
``stage_seconds``). Each user may have ``max_staged_uploads`` stages open and
``max_staged_bytes`` received and not committed; the server's purger removes expired stages
(rows and files, and stage folders no row names any more) every few seconds.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from ophis.server.background import PeriodicThread
from ophis.server.db.models import Stage, utcnow
from ophis.server.errors import TooManyRequests
from ophis.server.settings import ServerSettings
from ophis.server.storage.interfaces import Storage

log = logging.getLogger("ophis.server")
#: where received files wait for their commit in a remote storage
STAGING = "staging/"
_PREFIX = "stage-"
#: the purger's longest wait between two rounds, seconds
_MAX_PURGE_INTERVAL = 60.0


def stage_dir(storage: Storage, dist_id: str) -> Path:
    """Where a stage's file waits for its commit, under the basename's file name (the
    name the archive checks compare with its metadata)."""
    return storage.temp_dir() / f"{_PREFIX}{dist_id}"


def discard(storage: Storage, row: Stage) -> None:
    """The stage's bytes, here and (remote storage) in the shared staging area."""
    shutil.rmtree(stage_dir(storage, row.dist_id), ignore_errors=True)
    if row.storage_key and row.storage_key.startswith(STAGING):
        with contextlib.suppress(Exception):  # an orphan in staging/ harms no one
            storage.delete(row.storage_key)


def check_room_for_stage(session: Session, settings: ServerSettings, uploader_id: int) -> None:
    """Refuse a new stage when the user already has as many open stages, or as many bytes
    waiting, as a user may."""
    count, size = _open_stages(session, uploader_id)
    if count >= settings.max_staged_uploads:
        raise TooManyRequests(
            f"You have {count} uploads staged and not committed; the server allows"
            f" {settings.max_staged_uploads} (max_staged_uploads).",
            _wait_remedy(settings),
        )
    if size >= settings.max_staged_bytes:
        raise TooManyRequests(
            f"Your staged, uncommitted uploads hold {size} bytes; the server allows"
            f" {settings.max_staged_bytes} (max_staged_bytes).",
            _wait_remedy(settings),
        )


def room_for_file(session: Session, settings: ServerSettings, row: Stage) -> int:
    """The most bytes the file of ``row`` may have: one upload's limit, or what is left of
    its uploader's staging allowance when that is less."""
    _, waiting = _open_stages(session, row.uploader_id, besides=row.id)
    return max(0, min(settings.max_upload_bytes, settings.max_staged_bytes - waiting))


def _open_stages(session: Session, uploader_id: int, besides: int = 0) -> tuple[int, int]:
    query = select(func.count(), func.coalesce(func.sum(Stage.size), 0)).where(
        Stage.uploader_id == uploader_id, Stage.expires_at >= utcnow(), Stage.id != besides
    )
    count, size = session.execute(query).one()
    return int(count), int(size)


def _wait_remedy(settings: ServerSettings) -> str:
    return (
        "Finish (commit) or abandon the uploads in progress; an abandoned one is removed"
        f" {settings.stage_seconds} seconds after it was staged. The server's administrator"
        " sets these limits."
    )


def purge_expired(session: Session, storage: Storage, settings: ServerSettings) -> int:
    """Remove expired stages with their files, and stage folders no stage names (left by a
    crash) once they are as old as a stage may be; the number of stages removed."""
    expired = session.scalars(select(Stage).where(Stage.expires_at < utcnow())).all()
    for row in expired:
        discard(storage, row)
        # by id, not the ORM's delete: another worker's purger may have removed it already
        session.execute(delete(Stage).where(Stage.id == row.id))
    session.commit()
    _purge_orphan_folders(session, storage, settings)
    return len(expired)


def _purge_orphan_folders(session: Session, storage: Storage, settings: ServerSettings) -> None:
    oldest = time.time() - settings.stage_seconds
    folders = [
        path
        for path in storage.temp_dir().glob(f"{_PREFIX}*")
        if path.is_dir() and path.stat().st_mtime < oldest
    ]
    if not folders:
        return
    names = [path.name.removeprefix(_PREFIX) for path in folders]
    known = set(session.scalars(select(Stage.dist_id).where(Stage.dist_id.in_(names))))
    for path, name in zip(folders, names, strict=True):
        if name not in known:
            shutil.rmtree(path, ignore_errors=True)


def purger(
    sessions: sessionmaker[Session], storage: Storage, settings: ServerSettings
) -> PeriodicThread:
    """The server's thread that purges abandoned stages, several times per stage lifetime."""
    interval = min(_MAX_PURGE_INTERVAL, max(0.5, settings.stage_seconds / 4))

    def work() -> None:
        with sessions() as session:
            if removed := purge_expired(session, storage, settings):
                log.info("purged %d abandoned uploads", removed)

    return PeriodicThread("ophis-stage-purger", interval, work)
