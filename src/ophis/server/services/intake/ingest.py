"""The one path every file takes into a channel (an upload's commit, a copy to another
owner, a mirror or proxy channel fetching upstream's files), read top to bottom:

1. inspection: the caller has checked the file (:mod:`.inspection`) and decided whether the
   channel's policy takes it (:func:`ophis.server.services.trust.channel_policy.check_upload`);
2. the catalog write: bytes stored, rows flushed (:mod:`ophis.server.services.catalog.files`);
3. trust: the channel's pkg_mgr key signs the file (a channel that requires signatures and
   cannot sign refuses it) and known vulnerabilities are matched, the owner's policies
   applied; both need the new row, so they run on it before anything is committed;
4. events: the owner's webhooks are queued in the same transaction;
5. one commit; then the blobs of a replaced file that nothing refers to are deleted.

Each of these modules is entered once; none of them calls back into another.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from ophis.server.db.models import Account, File
from ophis.server.services.catalog import files
from ophis.server.services.events import webhooks
from ophis.server.services.trust import cves, signing
from ophis.server.storage.interfaces import Storage, delete_quietly


def add_file(
    session: Session,
    storage: Storage,
    owner: Account,
    path: Path,
    inspected: files.Inspected,
    *,
    labels: list[str] | None = None,
    uploader: Account | None = None,
    description: str | None = None,
    replace: bool = False,
    public: bool = True,
) -> File:
    """Store an inspected file under ``owner`` with ``labels`` (default main), sign it, match
    it, announce it; one transaction, committed here."""
    written = files.write_file(
        session,
        storage,
        owner,
        path,
        inspected,
        labels=labels,
        uploader=uploader,
        description=description,
        replace=replace,
        public=public,
    )
    check_trust(session, written.row)
    webhooks.file_event(session, written.row, webhooks.UPLOAD)
    session.commit()
    delete_quietly(storage, written.orphaned)
    return written.row


def check_trust(session: Session, row: File) -> None:
    """The trust decisions on a file just recorded (flushed): its signatures, then its
    known vulnerabilities and the owner's policies."""
    signing.sign_file(session, row)
    cves.track_file(session, row)
