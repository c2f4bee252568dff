"""The catalog's rows of distributions: writing a new file (the catalog step of
:mod:`ophis.server.services.intake.ingest`, which every file coming in goes through),
putting files into labels and taking them out, removing them.

Bytes are stored content-addressed (``blobs/<sha256>/<filename>``), so a
copy to another owner or label shares them, and the database rows are written in one
transaction after the bytes are in place: a crash leaves at worst an unreferenced blob,
never a row without its file.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ophis.core.distribution_types import DistributionType
from ophis.core.versions import check_conda_version
from ophis.server.db.engine import upsert
from ophis.server.db.models import (
    Account,
    ChannelRevision,
    File,
    Label,
    Package,
    Release,
    utcnow,
)
from ophis.server.errors import BadRequest, Conflict
from ophis.server.services.events import webhooks
from ophis.server.storage.interfaces import Storage, delete_quietly

_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")

T = TypeVar("T")
#: ChannelRevision.subdir for an owner's pip index
PYPI_INDEX = "@pypi"
MAIN = "main"


def channel_path(owner: str, label: str) -> str:
    """Where a label's channel is, below ``/conda/`` or ``/pypi/``: ``alice`` for ``main``
    (the plain channel), ``alice/label/dev`` for another label."""
    return owner if label == MAIN else f"{owner}/label/{label}"


@dataclass(frozen=True)
class Inspected:
    """What the server learned from the file itself."""

    distribution_type: str
    name: str
    version: str
    basename: str
    filename: str
    subdir: str | None
    size: int
    md5: str
    sha256: str
    record: dict[str, Any] | None = None
    facts: dict[str, Any] | None = None
    summary: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    #: conda: the archive's ``info/icon.png`` when it is a usable PNG (intake.inspection)
    icon: bytes | None = None


def blob_key(sha256: str, filename: str) -> str:
    return f"blobs/{sha256[:2]}/{sha256}/{filename}"


def find_package(session: Session, owner: Account, name: str) -> Package | None:
    return session.scalar(
        select(Package).where(
            Package.owner_id == owner.id, func.lower(Package.name) == name.lower()
        )
    )


def find_release(session: Session, package: Package, version: str) -> Release | None:
    return session.scalar(
        select(Release).where(Release.package_id == package.id, Release.version == version)
    )


def find_file(session: Session, owner: Account, basename: str) -> File | None:
    return session.scalar(select(File).where(File.owner_id == owner.id, File.basename == basename))


def ensure_package(
    session: Session, owner: Account, name: str, *, public: bool = True, summary: str = ""
) -> Package:
    """The owner's package, created when missing: private in a private channel, so that it
    stays private if the channel is made public later."""
    package = find_package(session, owner, name)
    if package is None:
        check_package_name(name)
        public = public and not owner.private_channel
        package = Package(owner_id=owner.id, name=name, public=public, summary=summary)
        package.owner = owner
        package = insert_or_find(session, package, lambda: find_package(session, owner, name))
    return package


def check_package_name(name: str) -> None:
    if not _PACKAGE_NAME.match(name):
        raise BadRequest(
            f"name {name!a} is not a valid package name.",
            "Use letters, digits and '.', '_', '+', '-' (at most 200), starting with a letter"
            " or digit.",
        )


def ensure_release(session: Session, package: Package, version: str) -> Release:
    """The package's release ``version``, created when new (with a valid conda version:
    every way a release comes in, API or upload, passes here)."""
    release = find_release(session, package, version)
    if release is None:
        check_conda_version(version)
        release = insert_or_find(
            session,
            Release(package_id=package.id, version=version),
            lambda: find_release(session, package, version),
        )
        release.package = package  # after the insert: a lost race leaves no stray child
    return release


def ensure_label(session: Session, owner: Account, name: str) -> Label:
    query = select(Label).where(Label.owner_id == owner.id, Label.name == name)
    label = session.scalar(query)
    if label is None:
        label = insert_or_find(
            session, Label(owner_id=owner.id, name=name), lambda: session.scalar(query)
        )
    return label


def insert_or_find(session: Session, row: T, find: Callable[[], T | None]) -> T:
    """Insert ``row``; when a concurrent transaction inserted the same unique key first
    (PostgreSQL runs writers side by side), the row it made. SQLite serializes writers, and
    its driver's savepoints are unreliable, so there the plain insert is enough."""
    if session.get_bind().dialect.name == "sqlite":
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found
    return row


@dataclass(frozen=True)
class Written:
    """A new file in the catalog, flushed, not committed."""

    row: File
    #: blobs of the file it replaced that no row refers to now: delete them once committed
    orphaned: list[str]


def write_file(
    session: Session,
    storage: Storage,
    owner: Account,
    path: Path,
    inspected: Inspected,
    *,
    labels: list[str] | None = None,
    uploader: Account | None = None,
    description: str | None = None,
    replace: bool = False,
    public: bool = True,
) -> Written:
    """The catalog write of a checked file: its bytes stored, its rows under ``owner`` with
    ``labels`` (default main), creating the package and release when needed. Flushed, not
    committed: :func:`ophis.server.services.intake.ingest.add_file` commits it."""
    existing = find_file(session, owner, inspected.basename)
    if existing is not None and not replace:
        raise Conflict(
            f"{owner.login}/{inspected.basename} already exists.",
            "Upload with --force to replace it, or --skip-existing to keep it.",
        )
    key = blob_key(inspected.sha256, inspected.filename)
    if not storage.exists(key):
        storage.put_file(key, path)
    icon = store_icon(storage, inspected.icon)
    replaced = [forget_file(session, existing)] if existing is not None else []
    row = record_file(
        session,
        owner,
        inspected,
        key,
        labels=labels,
        uploader=uploader,
        description=description,
        public=public,
    )
    if icon is not None:  # the newest upload's icon is the package's
        row.release.package.icon_key = icon
    return Written(row, unshared(session, replaced))


def icon_key(data: bytes) -> str:
    return f"icons/{hashlib.sha256(data).hexdigest()}.png"


def store_icon(storage: Storage, data: bytes | None) -> str | None:
    """Store an icon content-addressed (packages with the same icon share it); its key."""
    if data is None:
        return None
    key = icon_key(data)
    if not storage.exists(key):
        with tempfile.NamedTemporaryFile(dir=storage.temp_dir(), delete=False) as out:
            out.write(data)
        storage.put_file(key, Path(out.name))
    return key


def record_file(
    session: Session,
    owner: Account,
    inspected: Inspected,
    key: str,
    *,
    labels: list[str] | None = None,
    uploader: Account | None = None,
    description: str | None = None,
    public: bool = True,
) -> File:
    """The rows for bytes already in storage under ``key`` (an upload, or a copy sharing
    another file's blob); flushed, not committed."""
    package = ensure_package(
        session, owner, inspected.name, public=public, summary=inspected.summary
    )
    add_type(package, inspected.distribution_type)
    release = ensure_release(session, package, inspected.version)
    row = File(
        release_id=release.id,
        owner_id=owner.id,
        basename=inspected.basename,
        distribution_type=inspected.distribution_type,
        subdir=inspected.subdir,
        filename=inspected.filename,
        size=inspected.size,
        md5=inspected.md5,
        sha256=inspected.sha256,
        storage_key=key,
        description=description,
        attrs=inspected.attrs,
        record=inspected.record,
        facts=inspected.facts,
        uploader_id=uploader.id if uploader else None,
    )
    row.labels = [ensure_label(session, owner, name) for name in (labels or [MAIN])]
    session.add(row)
    package.modified_at = utcnow()
    touch(session, row)
    session.flush()
    return row


def inspected_of(row: File) -> Inspected:
    """What was learned from a stored file's archive, to record it again (a copy)."""
    package = row.release.package
    return Inspected(
        distribution_type=row.distribution_type,
        name=package.name,
        version=row.release.version,
        basename=row.basename,
        filename=row.filename,
        subdir=row.subdir,
        size=row.size,
        md5=row.md5,
        sha256=row.sha256,
        record=row.record,
        facts=row.facts,
        summary=package.summary,
        attrs=row.attrs,
    )


def add_type(package: Package, distribution_type: str) -> None:
    if distribution_type not in (package.package_types or []):
        package.package_types = [*(package.package_types or []), distribution_type]


def remove_file(session: Session, storage: Storage, row: File) -> None:
    """Remove a file's row; its bytes go when no other row shares them."""
    key = discard_file(session, row)
    session.commit()
    delete_unshared(session, storage, [key])


def discard_file(session: Session, row: File) -> str:
    """:func:`remove_file` without its commit, for callers that remove many files in one
    transaction: announces the removal, deletes the row, returns the storage key."""
    webhooks.file_event(session, row, webhooks.REMOVE)
    return forget_file(session, row)


def add_to_label(session: Session, row: File, label: Label) -> None:
    """Put a file into a label (nothing when it is there already), invalidating that
    label's index and announcing the change."""
    if label not in row.labels:
        row.labels.append(label)
        touch(session, row, [label.name])
        webhooks.file_event(session, row, webhooks.LABEL, action="add", label=label.name)


def take_out_of_label(session: Session, row: File, label: Label) -> None:
    """Take a file out of a label (nothing when it is not in it), as :func:`add_to_label`."""
    if label in row.labels:
        touch(session, row, [label.name])
        row.labels.remove(label)
        webhooks.file_event(session, row, webhooks.LABEL, action="remove", label=label.name)


def forget_file(session: Session, row: File) -> str:
    """Delete a file's row (flushed, not committed) and return its storage key: the caller
    deletes the bytes with :func:`delete_unshared` once the deletion is committed, so that a
    failed transaction never leaves a row without its file."""
    touch(session, row)
    row.labels.clear()  # also takes it out of the labels' loaded collections
    session.delete(row)
    session.flush()
    return row.storage_key


def unshared(session: Session, keys: list[str]) -> list[str]:
    """The blobs among ``keys`` that no file refers to any more."""
    return [
        key
        for key in sorted(set(keys))
        if not session.scalar(select(func.count()).select_from(File).where(File.storage_key == key))
    ]


def delete_unshared(session: Session, storage: Storage, keys: list[str]) -> None:
    """Delete the blobs no file refers to any more. Runs after the change committed, so a
    storage failure here only leaves an orphan: logged, not reported as the change failing."""
    delete_quietly(storage, unshared(session, keys))


def touch(session: Session, row: File, labels: list[str] | None = None) -> None:
    """Bump the revision of every (owner, label, subdir) whose index shows ``row``: the
    repodata (or pip index) caches of those, and only those, are rebuilt."""
    if row.distribution_type in (DistributionType.GENERIC, DistributionType.MODEL):  # no index
        return
    subdir = row.subdir if row.distribution_type == DistributionType.CONDA else PYPI_INDEX
    if subdir is None:
        return
    for label in labels if labels is not None else [label.name for label in row.labels]:
        bump(session, row.owner_id, label, subdir)


def bump(session: Session, owner_id: int, label: str, subdir: str) -> None:
    """One atomic upsert: concurrent uploads (several workers) never lose an increment nor
    race to create the row."""
    now = utcnow()
    statement = upsert(session, ChannelRevision).values(
        owner_id=owner_id, label=label, subdir=subdir, revision=1, changed_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["owner_id", "label", "subdir"],
            set_={"revision": ChannelRevision.revision + 1, "changed_at": now},
        )
    )
