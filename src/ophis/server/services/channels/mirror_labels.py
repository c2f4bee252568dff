"""What a mirror channel does to its label, for conda packages and model variants alike: a
file upstream has comes into the label (the owner's identical file joins it; anything else
comes in through :func:`ophis.server.services.intake.ingest.add_file`, as an upload does),
and files upstream dropped leave it (a file also in another label of the owner only leaves
this one; the bytes of deleted files go once the deletion is committed)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ophis.server.db.models import Account, File, Label
from ophis.server.services.catalog import files
from ophis.server.services.intake import ingest
from ophis.server.storage.interfaces import Storage


def label_files(owner: Account, label: str, distribution_type: str) -> Select[tuple[File]]:
    """The query of the files of one kind in the owner's ``label``."""
    return (
        select(File)
        .join(File.labels)
        .where(File.owner_id == owner.id, Label.owner_id == owner.id, Label.name == label)
        .where(File.distribution_type == distribution_type)
    )


def join_label(session: Session, owner: Account, label: str, row: File) -> None:
    """The owner has this very file (in another label, or already here): it is in ``label``
    too, sharing its bytes (committed)."""
    files.add_to_label(session, row, files.ensure_label(session, owner, label))
    session.commit()


def take_in(
    session: Session,
    storage: Storage,
    owner: Account,
    label: str,
    path: Path,
    inspected: files.Inspected,
    *,
    public: bool = True,
) -> None:
    """A checked file into ``label``: joining the owner's identical file, else stored,
    replacing one of the same name (changed upstream); a new package is private unless
    ``public``."""
    existing = files.find_file(session, owner, inspected.basename)
    if existing is not None and existing.sha256 == inspected.sha256:
        join_label(session, owner, label, existing)
        return
    ingest.add_file(
        session,
        storage,
        owner,
        path,
        inspected,
        labels=[label],
        replace=existing is not None,
        public=public,
    )


def leave_label(
    session: Session, storage: Storage, owner: Account, label: str, basenames: Iterable[str]
) -> int:
    """The files ``basenames`` leave ``label``, in one transaction; how many were in it."""
    basenames = list(basenames)
    if not basenames:
        return 0
    row_label = files.ensure_label(session, owner, label)
    keys: list[str] = []
    removed = 0
    for basename in basenames:
        row = files.find_file(session, owner, basename)
        if row is None or row_label not in row.labels:
            continue
        if len(row.labels) > 1:
            files.take_out_of_label(session, row, row_label)
        else:
            keys.append(files.discard_file(session, row))
        removed += 1
    session.commit()
    files.delete_unshared(session, storage, keys)
    return removed
