"""Conda channels served from the database, and the cache both channels and pip indexes use.

A subdir's documents -- ``repodata.json`` with its ``.zst`` and ``.bz2`` twins,
``current_repodata.json``, the CEP-16 shard index and shards -- are built from the
``File.record`` fragments of one (owner, label, subdir); ``channeldata.json`` from the
``File.facts`` of one (owner, label). Nothing walks a directory.

Each document is built once per change and kept by :class:`ChannelCache` under the key
(owner, label, index, stamp, view): ``index`` is a subdir (or ``@pypi``, ``@channeldata``),
``stamp`` that index's ``ChannelRevision`` (its counter and change time, so a recreated
database never meets stale files), ``view`` the set of private packages the caller may not
see (``all`` when none are hidden). Every upload, removal or label change bumps the revision
of the subdirs it touches, so only those are rebuilt; a package made private or public
changes the views, so no cached document outlives a change of who may see what.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import os
import re
import shutil
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import zstandard
from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from ophis.core.channeldata import ChanneldataEntry, build_channeldata
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.core.repodata import build_current_repodata, build_repodata, dumps
from ophis.core.shards import SHARDS_DIR, SHARDS_INDEX, build_shards, shard_filename
from ophis.indexer.output import ZSTD_LEVEL
from ophis.server.db.models import (
    Account,
    ChannelRevision,
    File,
    FileLabel,
    Label,
    Package,
    Release,
)
from ophis.server.errors import NotFound
from ophis.server.services.authz import Principal, can_read_package, hidden_packages
from ophis.server.services.files import CONDA, MAIN
from ophis.server.services.stats import count_download

SCOPE = "conda:download"
CHANNELDATA = "channeldata.json"
REPODATA = "repodata.json"
CURRENT = "current_repodata.json"
#: documents derived from another one: name -> (source, how)
_DERIVED: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    f"{REPODATA}.zst": (REPODATA, lambda data: zstandard.compress(data, ZSTD_LEVEL)),
    f"{REPODATA}.bz2": (REPODATA, bz2.compress),
    CURRENT: (REPODATA, lambda data: dumps(build_current_repodata(orjson.loads(data)))),
    f"{CURRENT}.zst": (CURRENT, lambda data: zstandard.compress(data, ZSTD_LEVEL)),
    f"{CURRENT}.bz2": (CURRENT, bz2.compress),
}
DOCUMENTS = frozenset({REPODATA, SHARDS_INDEX, *_DERIVED})
_SHARD = re.compile(r"^[0-9a-f]{64}\.msgpack\.zst$")
_MEDIA_TYPES = {
    ".json": "application/json",
    ".zst": "application/zstd",
    ".bz2": "application/x-bzip2",
}


# --- the cache -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheKey:
    owner_id: int
    label: str
    index: str
    stamp: str
    view: str

    @property
    def slot(self) -> tuple[int, str, str, str]:
        """The key without its stamp: one slot holds the newest build only."""
        return (self.owner_id, self.label, self.index, self.view)

    def directory(self, root: Path) -> Path:
        label = f"label-{quote(self.label, safe='')}"  # never '..', never a '/'
        return root / str(self.owner_id) / label / self.index / self.stamp / self.view


@dataclass(frozen=True)
class Artifact:
    """A built document as served: its bytes and validators."""

    body: bytes
    etag: str
    last_modified: float
    media_type: str
    #: content-addressed (shards): clients may keep it forever
    immutable: bool = False


class ChannelCache:
    """Built documents on disk under ``root``, shared by a server's worker processes (the
    first to write a document wins, so all serve the same bytes and ETag), and the recently
    used ones in memory, up to ``memory_bytes``. A document is built by one thread per
    process; the other requests for it wait for that build."""

    def __init__(self, root: Path, memory_bytes: int = 256 * 1024**2) -> None:
        self.root = root
        self.memory_bytes = memory_bytes
        self._memory: OrderedDict[tuple[Any, ...], tuple[str, Artifact]] = OrderedDict()
        self._size = 0
        self._guard = threading.Lock()
        self._locks = [threading.RLock() for _ in range(64)]

    def get(
        self, key: CacheKey, name: str, build: Callable[[], bytes], media_type: str
    ) -> Artifact:
        found = self.find(key, name, media_type)
        if found is not None:
            return found
        # Reentrant and per slot: a document's build may ask for another of the same slot.
        with self._locks[hash(key.slot) % len(self._locks)]:
            found = self.find(key, name, media_type)
            if found is None:
                found = self.put(key, name, build(), media_type)
                self._remember(key, name, found)
            return found

    def find(self, key: CacheKey, name: str, media_type: str) -> Artifact | None:
        with self._guard:
            held = self._memory.get((key.slot, name))
            if held is not None and held[0] == key.stamp:
                self._memory.move_to_end((key.slot, name))
                return held[1]
        path = key.directory(self.root) / name
        try:
            with path.open("rb") as handle:
                body, mtime = handle.read(), os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            return None
        artifact = _artifact(body, mtime, media_type, name)
        self._remember(key, name, artifact)
        return artifact

    def put(self, key: CacheKey, name: str, body: bytes, media_type: str) -> Artifact:
        """Write a document to disk (unless another worker did first)."""
        path = key.directory(self.root) / name
        self._open_stamp(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        body, mtime = _publish(path, body)
        return _artifact(body, mtime, media_type, name)

    def _open_stamp(self, key: CacheKey) -> None:
        """The first build of a new stamp removes the older stamps of its index."""
        stamp_dir = key.directory(self.root).parent
        if stamp_dir.is_dir():
            return
        stamp_dir.mkdir(parents=True, exist_ok=True)
        for sibling in stamp_dir.parent.iterdir():
            if _revision(sibling.name) < _revision(key.stamp):
                shutil.rmtree(sibling, ignore_errors=True)

    def _remember(self, key: CacheKey, name: str, artifact: Artifact) -> None:
        with self._guard:
            old = self._memory.pop((key.slot, name), None)
            self._size -= len(old[1].body) if old else 0
            self._memory[(key.slot, name)] = (key.stamp, artifact)
            self._size += len(artifact.body)
            while self._size > self.memory_bytes and len(self._memory) > 1:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._size -= len(dropped.body)


@functools.cache
def channel_cache(root: Path) -> ChannelCache:
    """The cache of one server's cache directory, one per process."""
    return ChannelCache(root)


def _artifact(body: bytes, mtime: float, media_type: str, name: str) -> Artifact:
    # A content hash: equal bytes get equal ETags in every worker, and a change that only
    # touched packages a caller cannot see does not show in that caller's ETag.
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    return Artifact(body, etag, mtime, media_type, immutable=name.startswith(f"{SHARDS_DIR}/"))


def _publish(path: Path, body: bytes) -> tuple[bytes, float]:
    """Create ``path`` with ``body`` unless it exists; return what ``path`` then holds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
    temporary.write_bytes(body)
    try:
        os.link(temporary, path)  # atomic, and fails rather than replace another's
    except FileExistsError:
        body = path.read_bytes()
    finally:
        temporary.unlink()
    return body, path.stat().st_mtime


def _revision(stamp: str) -> int:
    head = stamp.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


# --- what a caller may see -----------------------------------------------------------------


@dataclass(frozen=True)
class IndexView:
    """One index (a subdir, ``@pypi``) of one (owner, label) as one caller may see it."""

    owner: Account
    label: str
    index: str
    #: the owner's private packages this caller may not see
    hidden: frozenset[int]
    key: CacheKey


# Built once: composing the statement costs as much as running it.
_OPEN_INDEX = (
    select(
        Account,
        ChannelRevision.revision,
        ChannelRevision.changed_at,
        select(Package.id)
        .where(Package.owner_id == Account.id, Package.public.is_(False))
        .exists(),
    )
    .outerjoin(
        ChannelRevision,
        (ChannelRevision.owner_id == Account.id)
        & (ChannelRevision.label == bindparam("label"))
        & (ChannelRevision.subdir == bindparam("index")),
    )
    .where(Account.login_key == bindparam("login"))
)


def open_index(
    session: Session,
    principal: Principal,
    login: str,
    label: str,
    index: str,
    distribution_type: str,
    scope: str,
) -> IndexView:
    """The start of every channel request: the owner, the index's revision and whether the
    owner has private packages come in one query (the private ones are then looked up only
    when there are some)."""
    parameters = {"login": login.lower(), "label": label, "index": index}
    row = session.execute(_OPEN_INDEX, parameters).one_or_none()
    if row is None or row[0].is_disabled:
        raise NotFound(
            f"There is no channel named {login!r}.", "Check the owner's name in the URL."
        )
    owner, number, changed_at, private = row
    hidden = hidden_packages(session, principal, owner, scope) if private else frozenset()
    check_label(session, owner, label, hidden, distribution_type)
    # The change time too: a recreated database restarts the counters.
    stamp = f"{number}-{int(changed_at.timestamp() * 1_000_000)}" if number else "0"
    return IndexView(
        owner, label, index, hidden, CacheKey(owner.id, label, index, stamp, view_of(hidden))
    )


def view_of(hidden: frozenset[int]) -> str:
    if not hidden:
        return "all"
    return hashlib.sha256(",".join(map(str, sorted(hidden))).encode()).hexdigest()[:16]


def visible_files(
    owner_id: int, label: str, hidden: frozenset[int], distribution_type: str, *columns: Any
) -> Select[Any]:
    """``columns`` of the files of one label that a caller who cannot see ``hidden`` sees."""
    return (
        select(*columns)
        .select_from(File)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Label, Label.id == FileLabel.label_id)
        .join(Release, Release.id == File.release_id)
        .where(
            File.owner_id == owner_id,
            Label.owner_id == owner_id,
            Label.name == label,
            File.distribution_type == distribution_type,
            Release.package_id.not_in(hidden),
        )
    )


def check_label(
    session: Session, owner: Account, label: str, hidden: frozenset[int], distribution_type: str
) -> None:
    """``main`` is always a channel; another label only while the caller sees a file in it
    (so a label of private packages alone is not revealed)."""
    if label == MAIN:
        return
    query = visible_files(owner.id, label, hidden, distribution_type, File.id).limit(1)
    if session.scalar(query) is None:
        raise NotFound(
            f"{owner.login} has no label {label!r}.",
            "Check the label in the URL; a private label needs a token with access to it.",
        )


def channel_name(login: str, label: str) -> str:
    return login if label == MAIN else f"{login}/label/{label}"


# --- subdir documents ----------------------------------------------------------------------


def subdir_document(
    session: Session,
    cache: ChannelCache,
    principal: Principal,
    owner: str,
    label: str,
    subdir: str,
    name: str,
) -> Artifact:
    """``repodata.json`` and its companions (``name`` one of :data:`DOCUMENTS`)."""
    return _document(session, cache, _subdir_view(session, principal, owner, label, subdir), name)


def subdir_shard(
    session: Session,
    cache: ChannelCache,
    principal: Principal,
    owner: str,
    label: str,
    subdir: str,
    filename: str,
) -> Artifact:
    view = _subdir_view(session, principal, owner, label, subdir)
    _document(session, cache, view, SHARDS_INDEX)  # builds the shards when needed
    found = None
    if _SHARD.match(filename):
        found = cache.find(view.key, f"{SHARDS_DIR}/{filename}", "application/zstd")
    if found is None:
        raise NotFound(
            f"{channel_name(view.owner.login, label)}/{subdir} has no shard {filename}.",
            f"Fetch {SHARDS_INDEX} again: shards change with the channel.",
        )
    return found


def _subdir_view(
    session: Session, principal: Principal, login: str, label: str, subdir: str
) -> IndexView:
    view = open_index(session, principal, login, label, subdir, CONDA, SCOPE)
    _check_subdir(session, view.owner, label, subdir)
    return view


def _check_subdir(session: Session, owner: Account, label: str, subdir: str) -> None:
    """conda's platforms answer (empty when nothing is there), and so does any subdir the
    owner has had files in (conda's test channels use ``linux-fake``)."""
    if subdir in KNOWN_SUBDIRS:
        return
    known = select(ChannelRevision.subdir).where(
        ChannelRevision.owner_id == owner.id, ChannelRevision.subdir == subdir
    )
    if subdir.startswith("@") or session.scalar(known.limit(1)) is None:
        raise NotFound(
            f"{channel_name(owner.login, label)} has no subdir {subdir!r}.",
            f"Use one of {', '.join(KNOWN_SUBDIRS)}.",
        )


def _document(session: Session, cache: ChannelCache, view: IndexView, name: str) -> Artifact:
    media_type = _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    if name == REPODATA:
        build = functools.partial(_repodata, session, view)
    elif name == SHARDS_INDEX:
        build = functools.partial(_shards, session, cache, view)
    else:
        build = functools.partial(_derive, session, cache, view, name)
    return cache.get(view.key, name, build, media_type)


def _derive(session: Session, cache: ChannelCache, view: IndexView, name: str) -> bytes:
    source, transform = _DERIVED[name]
    return transform(_document(session, cache, view, source).body)


def _repodata(session: Session, view: IndexView) -> bytes:
    query = visible_files(
        view.owner.id, view.label, view.hidden, CONDA, File.filename, File.record
    ).where(File.subdir == view.index)
    records = {filename: record for filename, record in session.execute(query)}
    return dumps(build_repodata(view.index, records))


def _shards(session: Session, cache: ChannelCache, view: IndexView) -> bytes:
    repodata = orjson.loads(_document(session, cache, view, REPODATA).body)
    sharded = build_shards(repodata)
    for digest, body in sharded.shards.items():
        cache.put(view.key, f"{SHARDS_DIR}/{shard_filename(digest)}", body, "application/zstd")
    return sharded.index


# --- channeldata.json ----------------------------------------------------------------------


def channeldata(
    session: Session, cache: ChannelCache, principal: Principal, login: str, label: str
) -> Artifact:
    view = open_index(session, principal, login, label, "@channeldata", CONDA, SCOPE)
    owner, hidden = view.owner, view.hidden
    stamp = _label_stamp(session, owner, label)
    key = CacheKey(owner.id, label, "@channeldata", stamp, view.key.view)

    def build() -> bytes:
        query = visible_files(owner.id, label, hidden, CONDA, File.subdir, File.record, File.facts)
        entries = [ChanneldataEntry(s, r, f or {}) for s, r, f in session.execute(query)]
        return dumps(build_channeldata(entries, {entry.subdir for entry in entries}))

    return cache.get(key, CHANNELDATA, build, "application/json")


def _label_stamp(session: Session, owner: Account, label: str) -> str:
    """Changes with every subdir of the label; its head (the sum of their revisions) grows."""
    rows = session.execute(
        select(ChannelRevision.subdir, ChannelRevision.revision, ChannelRevision.changed_at)
        .where(ChannelRevision.owner_id == owner.id, ChannelRevision.label == label)
        .where(ChannelRevision.subdir.not_like("@%"))
        .order_by(ChannelRevision.subdir)
    ).all()
    if not rows:
        return "0"
    digest = hashlib.sha256(repr([tuple(map(str, row)) for row in rows]).encode())
    return f"{sum(row.revision for row in rows)}-{digest.hexdigest()[:16]}"


# --- package files -------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    storage_key: str
    size: int
    sha256: str


def open_package_file(
    session: Session,
    principal: Principal,
    login: str,
    label: str,
    subdir: str,
    filename: str,
    *,
    count: bool,
) -> Download:
    basename = f"{subdir}/{filename}"
    return open_file(session, principal, login, label, basename, CONDA, SCOPE, count=count)


def open_file(
    session: Session,
    principal: Principal,
    login: str,
    label: str,
    basename: str,
    distribution_type: str,
    scope: str,
    *,
    count: bool,
) -> Download:
    """A file of one label the caller may read, its download counted when ``count``; the
    same 404 whether it is absent or private, so a private package's files are not
    revealed."""
    row = session.scalar(
        select(File)
        .join(Account, Account.id == File.owner_id)
        .join(FileLabel, FileLabel.file_id == File.id)
        .join(Label, Label.id == FileLabel.label_id)
        .where(Account.login_key == login.lower(), Account.is_disabled.is_(False))
        .where(File.basename == basename, File.distribution_type == distribution_type)
        .where(Label.owner_id == File.owner_id, Label.name == label)
    )
    if row is None or not can_read_package(session, principal, row.release.package, scope):
        raise NotFound(
            f"There is no such file in {channel_name(login, label)}.",
            "Check the file name; a private package needs a token with access to it.",
        )
    download = Download(row.storage_key, row.size, row.sha256)
    if count:
        count_download(session, row)
    return download


def is_document(filename: str) -> bool:
    return filename in DOCUMENTS
