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

A rebuild costs what changed, not what the subdir holds (measured at 100,000 files in one
subdir: decoding every stored record through the JSON column type took more than half of a
from-scratch build, and encoding the whole document most of the rest):

- ``repodata.json`` is joined from pre-encoded entries (``"<filename>": {...}`` exactly as
  the indent-2, sorted-keys layout puts it, :func:`ophis.core.repodata.join_sections`), so
  the bytes equal a from-scratch build's. Beside each build, :data:`ENTRIES` records each
  entry's file id, sha256, name and place, in the document's order. The next build asks
  the database only for the view's (id, sha256, filename) rows; set differences against
  the earlier build give the removed and the new files; the kept entries are slices of
  the earlier bytes (already in order), the new ones are decoded and encoded from their
  stored records (read as JSON text, decoded by orjson) and merged in by file name. Python
  code runs per changed file; what remains per file is C (sets, slices, ``bytes.join``)
  and the query. A row's record never changes (a replaced file is a new row); the sha256
  guards against SQLite reusing a deleted row's id. Which files are listed always comes
  from the current view's query, so an entry taken from another view's build (the
  earlier build may be any view's) never adds a file this caller may not see.
- The shards follow the same rule: a package name whose files (ids and sha256) are those
  of the earlier build's shard keeps that content-addressed shard (a hard link); the
  others are encoded from their entries (:data:`SHARD_SOURCES` records what each was
  built from).
- The previous stamp of an index is moved aside (``.previous``) rather than deleted, so
  any worker, even after a restart, starts its next build from it; older ones are moved
  to ``.trash`` and deleted in the background. One build of a slot runs at a time across
  the worker processes (a lock file), so an upload costs one rebuild, not one per worker.
- ``.zst``, ``.bz2`` and ``current_repodata.json`` are still derived from the whole
  document, and only when first asked for: zstd and bz2 cannot append to a compressed
  stream that clients decode as one frame, and current_repodata's dependency back-filling
  looks across names.
"""

from __future__ import annotations

import bz2
import functools
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import msgpack
import orjson
import zstandard
from sqlalchemy import Select, Text, bindparam, cast, select
from sqlalchemy.orm import Session

from ophis.core.channeldata import ChanneldataEntry, build_channeldata
from ophis.core.distribution_types import DistributionType
from ophis.core.platform import KNOWN_SUBDIRS
from ophis.core.repodata import (
    CONDA_V2,
    PACKAGE_KEYS,
    dumps,
    encode_entry,
    join_sections,
    packages_key,
)
from ophis.core.shards import (
    SHARDS_DIR,
    SHARDS_INDEX,
    build_shards,
    encode_shard,
    encode_shards_index,
    shard_filename,
)
from ophis.indexer.output import ZSTD_LEVEL
from ophis.server.db.models import (
    Account,
    ChannelRevision,
    File,
    FileLabel,
    Label,
    Release,
)
from ophis.server.errors import NotFound
from ophis.server.services.accounts.authz import (
    Principal,
    can_read_package,
    channel_has_private_packages,
    hidden_packages,
)
from ophis.server.services.catalog.files import MAIN, channel_path
from ophis.server.services.catalog.servable import servable, servable_entries
from ophis.server.services.catalog.stats import count_download
from ophis.server.services.channels.channel_cache import Artifact as Artifact
from ophis.server.services.channels.channel_cache import CacheKey as CacheKey
from ophis.server.services.channels.channel_cache import ChannelCache as ChannelCache
from ophis.server.services.channels.channel_cache import channel_cache as channel_cache
from ophis.server.services.channels.channel_cache import etag_of
from ophis.server.services.channels.repodata_signatures import current_repodata, with_signatures
from ophis.server.services.trust.channel_policy import hidden_clause as hidden_by_policy

SCOPE = "conda:download"
CHANNELDATA = "channeldata.json"
REPODATA = "repodata.json"
CURRENT = "current_repodata.json"
#: beside a built shard index (never served): each name's shard and the files it holds
SHARD_SOURCES = "repodata_shards.sources"
_MSGPACK = "application/msgpack"
#: beside a built repodata.json (never served): where each file's entry is in it, by file
#: id and sha256, so that the next build reuses the entries of the files it still has
ENTRIES = "repodata.json.entries"
#: documents derived from another one: name -> (source, how)
_DERIVED: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    f"{REPODATA}.zst": (REPODATA, lambda data: zstandard.compress(data, ZSTD_LEVEL)),
    f"{REPODATA}.bz2": (REPODATA, bz2.compress),
    CURRENT: (REPODATA, current_repodata),  # with the signatures of what it lists
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
        channel_has_private_packages(),
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
            hidden_by_policy(owner_id, label),
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


def subdir_key(
    session: Session, principal: Principal, login: str, label: str, subdir: str
) -> CacheKey:
    """Where the documents of a subdir as ``principal`` sees it are kept (NotFound as for
    the documents themselves)."""
    return _subdir_view(session, principal, login, label, subdir).key


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
    if is_shard(filename):
        found = cache.find(view.key, f"{SHARDS_DIR}/{filename}", "application/zstd")
    if found is None:
        raise NotFound(
            f"{channel_path(view.owner.login, label)}/{subdir} has no shard {filename}.",
            f"Fetch {SHARDS_INDEX} again: shards change with the channel.",
        )
    return found


def _subdir_view(
    session: Session, principal: Principal, login: str, label: str, subdir: str
) -> IndexView:
    view = open_index(session, principal, login, label, subdir, DistributionType.CONDA, SCOPE)
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
            f"{channel_path(owner.login, label)} has no subdir {subdir!r}.",
            f"Use one of {', '.join(KNOWN_SUBDIRS)}.",
        )


def media_type(name: str) -> str:
    """The media type a document is served as."""
    return _MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")


def derivation(name: str) -> tuple[str, Callable[[bytes], bytes]] | None:
    """The document ``name`` is derived from, and how (None: it is built itself); also used
    by proxy channels (:mod:`ophis.server.services.channels.proxy`), whose repodata is
    upstream's."""
    return _DERIVED.get(name)


def _document(session: Session, cache: ChannelCache, view: IndexView, name: str) -> Artifact:
    media_type_ = media_type(name)
    if name == REPODATA:
        build = functools.partial(_repodata, session, cache, view)
    elif name == SHARDS_INDEX:
        build = functools.partial(_shards, session, cache, view)
    else:
        build = functools.partial(_derive, session, cache, view, name)
    return cache.get(view.key, name, build, media_type_)


def _derive(session: Session, cache: ChannelCache, view: IndexView, name: str) -> bytes:
    source, transform = _DERIVED[name]
    return transform(_document(session, cache, view, source).body)


def _repodata(session: Session, cache: ChannelCache, view: IndexView) -> Artifact:
    """The view's files come from the database as (id, sha256, filename) only; the files
    an earlier build also had keep their entries (slices of its bytes, in its order), the
    others are encoded from their stored records and merged in by file name; the document
    is joined, published, and where each entry landed kept beside it (:data:`ENTRIES`).
    Set differences, slicing and ``bytes.join`` do the per-file work: Python code runs per
    changed file, not per file."""
    columns = (File.id, File.sha256, File.filename)
    # Through the connection: plain rows, without the ORM's per-row loading.
    now = set(map(tuple, session.connection().execute(_subdir_files(view, *columns)).all()))
    earlier = _EarlierEntries.of(cache, view.key)
    before = set(zip(earlier.ids, earlier.sha256, earlier.filenames, strict=True))
    # A file is the same one only with the same id, sha256 and name: SQLite gives a new
    # row the id of the newest deleted one.
    gone = {earlier.position[file_id] for file_id, _, _ in before - now}
    added = {file_id: sha256 for file_id, sha256, _ in now - before}
    sections = (_Section(), _Section())  # packages, packages.conda
    for section, positions in zip(sections, earlier.sections(gone), strict=True):
        section.take(earlier, positions)
    for file_id, (filename, encoded, name) in _encode_entries(session, view, [*added]).items():
        sections[filename.endswith(CONDA_V2)].add(file_id, added[file_id], filename, encoded, name)
    for section in sections:
        section.sort()
    body, spans = join_sections(view.index, sections[0].encoded, sections[1].encoded)
    listed = [(section.ids, section.filenames) for section in sections]
    body, signed = with_signatures(
        session, view.owner.id, view.index, listed, earlier.signed, set(added), body
    )
    artifact = cache.put(view.key, REPODATA, body, "application/json", etag_of(body))
    if artifact.body is body:  # else another worker's build was published first
        index: dict[str, Any] = {"etag": artifact.etag, "spans": spans, "signatures": signed}
        index["conda_start"] = len(sections[0].ids)
        for column in _Section.COLUMNS[:-1]:
            index[column] = getattr(sections[0], column) + getattr(sections[1], column)
        cache.store(view.key, ENTRIES, msgpack.packb(index), _MSGPACK)
    return artifact


@dataclass
class _Section:
    """The entries of one section (``packages``, ``packages.conda``) of a build, as columns
    that end in file name order."""

    COLUMNS: ClassVar[tuple[str, ...]] = ("ids", "sha256", "filenames", "names", "encoded")
    ids: list[int] = field(default_factory=list)
    sha256: list[str] = field(default_factory=list)
    filenames: list[str] = field(default_factory=list)
    names: list[str | None] = field(default_factory=list)
    encoded: list[bytes | memoryview] = field(default_factory=list)
    ordered: bool = True

    def take(self, earlier: _EarlierEntries, positions: range | list[int]) -> None:
        """Entries of an earlier build, in its order (so still in order)."""
        starts, ends = earlier.spans[0::2], earlier.spans[1::2]
        if isinstance(positions, range):  # nothing removed: slices, no loop in Python
            part = slice(positions.start, positions.stop)
            self.ids, self.sha256 = earlier.ids[part], earlier.sha256[part]
            self.filenames, self.names = earlier.filenames[part], earlier.names[part]
            starts, ends = starts[part], ends[part]
        else:
            self.ids = [earlier.ids[n] for n in positions]
            self.sha256 = [earlier.sha256[n] for n in positions]
            self.filenames = [earlier.filenames[n] for n in positions]
            self.names = [earlier.names[n] for n in positions]
            starts, ends = [starts[n] for n in positions], [ends[n] for n in positions]
        self.encoded = list(map(earlier.body.__getitem__, map(slice, starts, ends)))

    def add(
        self, file_id: int, sha256: str, filename: str, encoded: bytes, name: str | None
    ) -> None:
        for column, value in zip(
            self.COLUMNS, (file_id, sha256, filename, name, encoded), strict=True
        ):
            getattr(self, column).append(value)
        self.ordered = False

    def sort(self) -> None:
        """By file name (the earlier entries are one sorted run: Timsort merges the new in)."""
        if self.ordered:
            return
        order = sorted(range(len(self.filenames)), key=self.filenames.__getitem__)
        for column in self.COLUMNS:
            values = getattr(self, column)
            setattr(self, column, [values[i] for i in order])
        self.ordered = True


def _subdir_files(view: IndexView, *columns: Any) -> Select[Any]:
    hidden = view.hidden
    query = visible_files(view.owner.id, view.label, hidden, DistributionType.CONDA, *columns)
    return query.where(File.subdir == view.index)


@dataclass(frozen=True)
class _EarlierEntries:
    """The entries of an earlier build of a repodata.json, in its order, by file id."""

    body: memoryview
    position: dict[int, int]  #: file id -> its place in the lists
    ids: list[int]
    sha256: list[str]
    filenames: list[str]
    names: list[str | None]
    spans: list[int]  #: start and end of each entry in ``body``
    #: where ``packages.conda`` starts in the lists
    conda_start: int
    #: the directory of that build
    directory: Path | None
    #: its signatures section's index (:mod:`ophis.server.services.channels.repodata_signatures`)
    signatures: dict[str, Any] | None = None

    @property
    def signed(self) -> tuple[memoryview, dict[str, Any] | None]:
        return self.body, self.signatures

    @classmethod
    def of(cls, cache: ChannelCache, key: CacheKey) -> _EarlierEntries:
        """An earlier build with the entries index that belongs to it (a build that lost
        the race to publish its document may have published its index); else none."""
        earlier = cache.earlier(key, REPODATA, ENTRIES)
        if earlier is None:
            return _NO_ENTRIES
        return cls.read(earlier.body, earlier.etag, earlier.companion, earlier.directory)

    @classmethod
    def read(
        cls, body: bytes, etag: str, companion: bytes, directory: Path | None
    ) -> _EarlierEntries:
        """A build's entries, when ``companion`` is the entries index of ``body``."""
        try:
            index = msgpack.unpackb(companion)
            if index["etag"] != etag:
                return _NO_ENTRIES
            columns = [index[k] for k in ("ids", "sha256", "filenames", "names")]
            spans, conda_start = index["spans"], index["conda_start"]
            if {len(column) for column in columns} != {len(spans) // 2}:
                return _NO_ENTRIES
            if not 0 <= conda_start <= len(columns[0]):
                return _NO_ENTRIES
            position = dict(zip(columns[0], range(len(columns[0])), strict=True))
        except (ValueError, KeyError, TypeError):  # unreadable: build from scratch
            return _NO_ENTRIES
        signatures = index.get("signatures")
        return cls(memoryview(body), position, *columns, spans, conda_start, directory, signatures)

    def sections(self, removed: set[int]) -> tuple[range | list[int], range | list[int]]:
        """The places of the entries still there, in ``packages`` and in
        ``packages.conda``."""
        legacy, conda = range(self.conda_start), range(self.conda_start, len(self.ids))
        if not removed:
            return legacy, conda
        return [n for n in legacy if n not in removed], [n for n in conda if n not in removed]


_NO_ENTRIES = _EarlierEntries(memoryview(b""), {}, [], [], [], [], [], 0, None)


#: above this many new files, one pass over the subdir beats looking each one up
_LOOKUP_LIMIT = 2000


def _encode_entries(
    session: Session, view: IndexView, file_ids: list[int]
) -> dict[int, tuple[str, bytes, str | None]]:
    """The entries of files no earlier build had, from their stored records.

    The record is read as the JSON text the database holds (SQLite and PostgreSQL's
    ``json`` keep what was written) and decoded by orjson: several times faster than the
    column type's ``json.loads`` per row, and the decoded record lives only until encoded."""
    if not file_ids:
        return {}
    stored = cast(File.record, Text)
    if len(file_ids) > _LOOKUP_LIMIT:
        wanted = set(file_ids)
        rows = (
            row
            for row in session.connection().execute(
                _subdir_files(view, File.id, File.filename, stored)
            )
            if row[0] in wanted
        )
    else:
        rows = (
            row
            for start in range(0, len(file_ids), 500)  # within every backend's bound limit
            for row in session.connection().execute(
                select(File.id, File.filename, stored).where(
                    File.id.in_(file_ids[start : start + 500])
                )
            )
        )
    entries: dict[int, tuple[str, bytes, str | None]] = {}
    for file_id, filename, json_text in rows:
        record = _decode(json_text)
        if not servable(filename, record, f"{view.index}/repodata.json"):
            continue
        name = record.get("name") if isinstance(record, dict) else None
        entries[file_id] = (filename, encode_entry(filename, record), name)
    return entries


def _decode(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # what only Python's json reads (NaN) reads as before
        return json.loads(text)


def _shards(session: Session, cache: ChannelCache, view: IndexView) -> bytes:
    """The shard index, and a shard per package name: a name whose files (ids and sha256)
    are those of the earlier build's shard keeps that shard (a hard link to the same
    content-addressed file); the others are encoded from their entries in repodata.json,
    each decoded alone. What each shard was built from is kept beside the index."""
    document = _document(session, cache, view, REPODATA)
    companion = cache.find(view.key, ENTRIES, _MSGPACK)
    entries = _NO_ENTRIES
    if companion is not None:
        directory = view.key.directory(cache.root)
        entries = _EarlierEntries.read(document.body, document.etag, companion.body, directory)
    if entries is _NO_ENTRIES:  # a document built before entries were kept beside it
        return _shards_from_scratch(cache, view, document.body)
    earlier = _EarlierShards.of(cache, view.key)
    grouped = _by_name(entries)
    fingerprints = {name: _fingerprint(entries, members) for name, members in grouped.items()}
    digests = earlier.reuse(cache, view.key, fingerprints)
    for name, members in grouped.items():
        if name not in digests:
            body = encode_shard(_sections(entries, members))
            digests[name] = hashlib.sha256(body).hexdigest()
            cache.put(view.key, _shard_name(digests[name]), body, "application/zstd")
    sources = {name: [fingerprints[name], digest] for name, digest in digests.items()}
    index = encode_shards_index(view.index, digests)
    sources_index = msgpack.packb({"etag": etag_of(index), "names": sources})
    cache.store(view.key, SHARD_SOURCES, sources_index, _MSGPACK)
    return index


def _shards_from_scratch(cache: ChannelCache, view: IndexView, document: bytes) -> bytes:
    sharded = build_shards(orjson.loads(document))
    for digest, body in sharded.shards.items():
        cache.put(view.key, _shard_name(digest), body, "application/zstd")
    return sharded.index


def _shard_name(digest: str) -> str:
    return f"{SHARDS_DIR}/{shard_filename(digest)}"


def _by_name(entries: _EarlierEntries) -> dict[str, list[int]]:
    """Each package name's entries, in the document's order (as the shard lists them)."""
    grouped: dict[str, list[int]] = {}
    for n, name in enumerate(entries.names):
        if name is not None:
            grouped.setdefault(name, []).append(n)
    return grouped


def _fingerprint(entries: _EarlierEntries, members: list[int]) -> str:
    """What a shard was built from: its files, by id and sha256 (a row's record never
    changes)."""
    text = "|".join(f"{entries.ids[n]}:{entries.sha256[n]}" for n in members)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sections(entries: _EarlierEntries, members: list[int]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {key: {} for key in PACKAGE_KEYS}
    for n in members:
        encoded = entries.body[entries.spans[2 * n] : entries.spans[2 * n + 1]]
        for filename, record in orjson.loads(b"{" + bytes(encoded) + b"}").items():
            sections[packages_key(filename)][filename] = record
    return sections


@dataclass(frozen=True)
class _EarlierShards:
    """An earlier build's shards: per package name, what it was built from and its digest."""

    names: dict[str, list[str]]
    directory: Path | None

    @classmethod
    def of(cls, cache: ChannelCache, key: CacheKey) -> _EarlierShards:
        earlier = cache.earlier(key, SHARDS_INDEX, SHARD_SOURCES)
        if earlier is None:
            return cls({}, None)
        try:
            sources = msgpack.unpackb(earlier.companion)
            if sources["etag"] == earlier.etag and isinstance(sources["names"], dict):
                return cls(sources["names"], earlier.directory)
        except (ValueError, KeyError, TypeError):
            pass
        return cls({}, None)

    def reuse(
        self, cache: ChannelCache, key: CacheKey, fingerprints: dict[str, str]
    ) -> dict[str, str]:
        """``name -> digest`` of the earlier shards built from the same files as now
        (``fingerprints``), published under ``key``."""
        if self.directory is None:
            return {}
        digests = {
            name: held[1]
            for name, fingerprint in fingerprints.items()
            if (held := self.names.get(name)) and held[0] == fingerprint
        }
        files = {shard_filename(digest) for digest in digests.values()}
        missing = set(cache.adopt(key, SHARDS_DIR, sorted(files), self.directory / SHARDS_DIR))
        return {n: d for n, d in digests.items() if shard_filename(d) not in missing}


# --- channeldata.json ----------------------------------------------------------------------


def channeldata(
    session: Session, cache: ChannelCache, principal: Principal, login: str, label: str
) -> Artifact:
    view = open_index(
        session, principal, login, label, "@channeldata", DistributionType.CONDA, SCOPE
    )
    owner, hidden = view.owner, view.hidden
    stamp = _label_stamp(session, owner, label)
    key = CacheKey(owner.id, label, "@channeldata", stamp, view.key.view)

    def build() -> bytes:
        query = visible_files(
            owner.id, label, hidden, DistributionType.CONDA, File.subdir, File.record, File.facts
        )
        rows = session.execute(query)
        entries = servable_entries(ChanneldataEntry(s, r, f or {}) for s, r, f in rows)
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
    file_id: int | None = None


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
    return open_file(
        session, principal, login, label, basename, DistributionType.CONDA, SCOPE, count=count
    )


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
            f"There is no such file in {channel_path(login, label)}.",
            "Check the file name; a private package needs a token with access to it.",
        )
    download = Download(row.storage_key, row.size, row.sha256, row.id)
    if count:
        count_download(session, row)
    return download


def is_document(filename: str) -> bool:
    return filename in DOCUMENTS


def is_shard(filename: str) -> bool:
    return _SHARD.match(filename) is not None
