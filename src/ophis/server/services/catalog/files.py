"""Adding and removing distributions: the one path every package file takes into the server
(the upload commit, ``anaconda copy``, tests, mirrors).

A file is checked before anything is stored (conda archives by ``ophis.core.package_file``,
wheels and sdists by ``ophis.core.python_dist``); the server trusts the archive, not what the
client says about it. Bytes are stored content-addressed (``blobs/<sha256>/<filename>``), so a
copy to another owner or label shares them, and the database rows are written in one
transaction after the bytes are in place: a crash leaves at worst an unreferenced blob,
never a row without its file.
"""

from __future__ import annotations

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ophis.core import project_archive
from ophis.core.channeldata import package_facts
from ophis.core.errors import InvalidPackageError
from ophis.core.package_file import file_digests, read_package, split_package_filename
from ophis.core.paths import check_relative_path
from ophis.core.platform import parse_subdir
from ophis.core.python_dist import is_python_distribution, read_python_distribution
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
from ophis.server.services.trust import cves, signing
from ophis.server.storage.interfaces import Storage

_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$")

T = TypeVar("T")
log = logging.getLogger("ophis.server")
CONDA, PYPI = "conda", "pypi"
#: a project archive (``ophis project upload``): a template others start from
PROJECT = "project"
#: a generic file (``anaconda upload -t file``): any bytes, named by the package and version
#: the uploader gives, in no channel index
GENERIC = "file"
#: ChannelRevision.subdir for an owner's pip index
PYPI_INDEX = "@pypi"
MAIN = "main"
#: an icon larger than this is ignored (conda-build's are a few KiB)
ICON_MAX_BYTES = 256 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


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
    #: conda: the archive's ``info/icon.png`` when it is a PNG of at most ICON_MAX_BYTES
    icon: bytes | None = None


def inspect_file(
    path: Path, distribution_type: str, name: str = "", version: str = ""
) -> Inspected:
    """Check a file and read its metadata; raises InvalidPackageError (nothing is stored).
    A generic file has none: it is the release ``name``/``version`` it was uploaded to."""
    if distribution_type == GENERIC:
        return _inspect_generic(path, name, version)
    if distribution_type == CONDA:
        return _inspect_conda(path)
    if distribution_type == PYPI:
        return _inspect_python(path)
    if distribution_type == PROJECT:
        return _inspect_project(path)
    raise BadRequest(
        f"Distribution type {distribution_type!r} is not accepted.",
        "Upload conda packages (.conda, .tar.bz2), wheels or sdists.",
    )


def _inspect_conda(path: Path) -> Inspected:
    split_package_filename(path.name)  # refuses what is not a conda file name
    contents = read_package(path)
    index = contents.index
    subdir = index.get("subdir") or ("noarch" if not index.get("arch") else None)
    if not isinstance(subdir, str):
        raise InvalidPackageError(path.name, "info/index.json has no 'subdir'")
    parse_subdir(subdir)
    record = contents.repodata_record()
    record.setdefault("subdir", subdir)
    facts = package_facts(index["name"], contents.about, contents.paths, contents.run_exports)
    return Inspected(
        distribution_type=CONDA,
        name=index["name"],
        version=index["version"],
        basename=f"{subdir}/{path.name}",
        filename=path.name,
        subdir=subdir,
        size=contents.size,
        md5=contents.md5,
        sha256=contents.sha256,
        record=record,
        facts=facts,
        summary=str(contents.about.get("summary") or ""),
        attrs={k: v for k, v in index.items() if k not in ("name", "version")},
        icon=usable_icon(contents.icon),
    )


def usable_icon(data: bytes | None) -> bytes | None:
    """The icon when it is small and really a PNG: the web site serves it as image/png, so
    anything else (an HTML file named icon.png) is dropped rather than refused, as the
    package itself is fine."""
    if data is None or len(data) > ICON_MAX_BYTES or not data.startswith(_PNG_SIGNATURE):
        return None
    return data


def _inspect_project(path: Path) -> Inspected:
    if not project_archive.is_project_archive(path.name):
        suffix = project_archive.SUFFIX
        raise InvalidPackageError(path.name, f"is not a project archive (*{suffix})")
    facts = project_archive.read_facts(path.read_bytes(), path.name)
    expected = project_archive.archive_name(facts.name, facts.version)
    if path.name != expected:
        raise InvalidPackageError(path.name, f"its manifest says it is {expected}")
    size, md5, sha256 = file_digests(path)
    return Inspected(
        distribution_type=PROJECT,
        name=facts.name,
        version=facts.version,
        basename=path.name,
        filename=path.name,
        subdir=None,
        size=size,
        md5=md5,
        sha256=sha256,
        summary=facts.summary,
    )


def _inspect_generic(path: Path, name: str, version: str) -> Inspected:
    check_relative_path(path.name, "file name", path.name)
    size, md5, sha256 = file_digests(path)
    return Inspected(
        distribution_type=GENERIC,
        name=name,
        version=version,
        basename=path.name,
        filename=path.name,
        subdir=None,
        size=size,
        md5=md5,
        sha256=sha256,
    )


def _inspect_python(path: Path) -> Inspected:
    if not is_python_distribution(path.name):
        raise InvalidPackageError(path.name, "is not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    dist = read_python_distribution(path)
    size, md5, sha256 = file_digests(path)
    return Inspected(
        distribution_type=PYPI,
        name=dist.name,
        version=dist.version,
        basename=path.name,
        filename=path.name,
        subdir=None,
        size=size,
        md5=md5,
        sha256=sha256,
        summary=dist.summary,
        attrs={
            "packagetype": dist.packagetype,
            "requires_python": dist.requires_python,
            "requires_dist": list(dist.requires_dist),
        },
    )


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


def add_file(
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
) -> File:
    """Store a checked file and record it under ``owner`` with ``labels`` (default main),
    creating the package and release when needed; one transaction, committed here."""
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
    webhooks.file_event(session, row, webhooks.UPLOAD)
    session.commit()
    delete_unshared(session, storage, replaced)
    return row


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
    signing.sign_file(session, row)  # the channel's pkg_mgr key signs it, when it has one
    cves.track_file(session, row)  # known vulnerabilities and the channel's policy
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


def delete_unshared(session: Session, storage: Storage, keys: list[str]) -> None:
    """Delete the blobs no file refers to any more. Runs after the change committed, so a
    storage failure here only leaves an orphan: logged, not reported as the change failing."""
    for key in set(keys):
        shared = session.scalar(
            select(func.count()).select_from(File).where(File.storage_key == key)
        )
        if not shared:
            try:
                storage.delete(key)
            except Exception:
                log.warning("could not delete the unreferenced blob %s", key, exc_info=True)


def touch(session: Session, row: File, labels: list[str] | None = None) -> None:
    """Bump the revision of every (owner, label, subdir) whose index shows ``row``: the
    repodata (or pip index) caches of those, and only those, are rebuilt."""
    if row.distribution_type == GENERIC:  # in no index
        return
    subdir = row.subdir if row.distribution_type == CONDA else PYPI_INDEX
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
