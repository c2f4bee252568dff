"""The cache of built channel documents (conda subdirs, channeldata, pip indexes): on
disk, shared by a server's worker processes, and the recently used ones in memory.

Documents live under ``<root>/<owner>/label-<label>/<index>/<stamp>/<view>/``. A new
stamp's first document moves the newest older stamp aside (``.previous``, where the next
incremental builds start from) and the rest to ``.trash``, deleted in the background.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ophis.core.shards import SHARDS_DIR
from ophis.server.privacy import FILE_MODE, private_file

try:
    import fcntl
except ImportError:  # Windows: builds are then serialized per process only
    fcntl = None  # type: ignore[assignment]


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
    #: where it is kept (its compressed twins are kept beside it, see :meth:`ChannelCache.twin`)
    key: CacheKey | None = dataclasses.field(default=None, compare=False)
    name: str = ""


@dataclass(frozen=True)
class Earlier:
    """An earlier build of a document (its bytes and ETag) and of a companion file."""

    body: bytes
    etag: str
    companion: bytes
    #: the directory of that build (its stamp and view), with its other files
    directory: Path


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
        self._held = threading.local()

    def get(
        self, key: CacheKey, name: str, build: Callable[[], bytes | Artifact], media_type: str
    ) -> Artifact:
        """``name`` of ``key``, built by ``build`` when no worker has yet: the bytes, or
        the artifact when ``build`` published it itself (with what goes beside it)."""
        found = self.find(key, name, media_type)
        if found is not None:
            return found
        # Reentrant and per slot: a document's build may ask for another of the same slot.
        with self._locks[hash(key.slot) % len(self._locks)], self._worker_lock(key):
            found = self.find(key, name, media_type)
            if found is None:
                built = build()
                if not isinstance(built, Artifact):
                    built = self.put(key, name, built, media_type)
                found = built
                self._remember(key, name, found)
            return found

    @contextlib.contextmanager
    def _worker_lock(self, key: CacheKey) -> Iterator[None]:
        """One build of a slot at a time across the server's worker processes too: right
        after an upload every worker is asked for the new document, and one building it
        while the others wait and read its result costs a fraction of each building it.
        Taken once per thread (builds nest within a slot); a no-op without ``fcntl``."""
        held: set[tuple[Any, ...]] = self._held.__dict__.setdefault("slots", set())
        if fcntl is None or key.slot in held:
            yield
            return
        name = hashlib.sha256(repr(key.slot).encode()).hexdigest()[:24]
        path = self.root / ".locks" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE), "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            held.add(key.slot)
            try:
                yield
            finally:
                held.discard(key.slot)
                fcntl.flock(handle, fcntl.LOCK_UN)

    def earlier(self, key: CacheKey, name: str, companion: str) -> Earlier | None:
        """Another build of ``name`` with its ``companion`` for the same index, to start an
        incremental build from: this slot's in memory, else on disk the current stamp's
        other views, then older stamps (this view first). Any view will do for a caller
        that takes from it only what the current view's query names."""
        with self._guard:
            held = self._memory.get((key.slot, name))
            extra = self._memory.get((key.slot, companion))
        if held is not None and extra is not None and held[0] == extra[0] != key.stamp:
            directory = dataclasses.replace(key, stamp=held[0]).directory(self.root)
            if not directory.is_dir():  # moved aside by a newer stamp
                directory = self._previous_dir(key) / held[0] / key.view
            return Earlier(held[1].body, held[1].etag, extra[1].body, directory)
        for directory in self._earlier_directories(key):
            try:
                body = (directory / name).read_bytes()
                companion_body = (directory / companion).read_bytes()
            except FileNotFoundError:  # not built, or removed by a newer stamp meanwhile
                continue
            return Earlier(body, etag_of(body), companion_body, directory)
        return None

    def adopt(self, key: CacheKey, folder: str, names: list[str], source: Path) -> list[str]:
        """Publish files of an earlier build (shards: content-addressed, so unchanged bytes
        keep their name) from ``source`` under ``key``'s ``folder`` as hard links; returns
        the names that could not be (gone, or a file system without hard links)."""
        target = key.directory(self.root) / folder
        self._open_stamp(key)
        target.mkdir(parents=True, exist_ok=True)
        missing: list[str] = []
        for name in names:  # strings, not Paths: thousands of shards
            try:
                os.link(f"{source}/{name}", f"{target}/{name}")
            except FileExistsError:
                continue
            except OSError:
                missing.append(name)
        return missing

    def _earlier_directories(self, key: CacheKey) -> list[Path]:
        stamps: list[Path] = []
        for parent in (key.directory(self.root).parent.parent, self._previous_dir(key)):
            stamps += _children(parent)
        stamps.sort(key=lambda d: -_revision(d.name))
        ordered: list[Path] = []
        for stamp_dir in sorted(stamps, key=lambda d: d.name != key.stamp):
            views = sorted(d.name for d in _children(stamp_dir))
            views.sort(key=lambda view: view != key.view)
            ordered += [
                stamp_dir / view
                for view in views
                if not (stamp_dir.name == key.stamp and view == key.view)
            ]
        return ordered[:4]  # each a read of a whole document: a few, not every view

    def held(self, key: CacheKey, name: str) -> Artifact | None:
        """``name`` of ``key`` when it is in memory (no file is read)."""
        with self._guard:
            held = self._memory.get((key.slot, name))
            if held is not None and held[0] == key.stamp:
                self._memory.move_to_end((key.slot, name))
                return held[1]
        return None

    def twin(
        self, artifact: Artifact, suffix: str, compress: Callable[[bytes], bytes], media_type: str
    ) -> Artifact | None:
        """The compressed twin of a kept document (``repodata.json.gz`` beside
        ``repodata.json``), made by ``compress`` once per change and kept like the document."""
        if artifact.key is None:
            return None
        name = f"{artifact.name}{suffix}"
        found = self.held(artifact.key, name)
        if found is None:
            found = self.get(artifact.key, name, lambda: compress(artifact.body), media_type)
        return found

    def find(self, key: CacheKey, name: str, media_type: str) -> Artifact | None:
        found = self.held(key, name)
        if found is not None:
            return found
        path = key.directory(self.root) / name
        try:
            with path.open("rb") as handle:
                body, mtime = handle.read(), os.fstat(handle.fileno()).st_mtime
        except FileNotFoundError:
            return None
        artifact = _artifact(body, mtime, media_type, key, name)
        self._remember(key, name, artifact)
        return artifact

    def store(self, key: CacheKey, name: str, body: bytes, media_type: str) -> Artifact:
        """:meth:`put`, and keep it in memory too (a build's companion, read by the next)."""
        artifact = self.put(key, name, body, media_type)
        self._remember(key, name, artifact)
        return artifact

    def put(
        self, key: CacheKey, name: str, body: bytes, media_type: str, etag: str | None = None
    ) -> Artifact:
        """Write a document to disk (unless another worker did first: then the artifact
        has that worker's bytes). ``etag``: the body's, when the caller has it already."""
        path = key.directory(self.root) / name
        self._open_stamp(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        published, mtime = _publish(path, body)
        if published is body and etag is not None:
            immutable = name.startswith(f"{SHARDS_DIR}/")
            return Artifact(body, etag, mtime, media_type, immutable, key, name)
        return _artifact(published, mtime, media_type, key, name)

    def _open_stamp(self, key: CacheKey) -> None:
        """The first build of a new stamp removes the older stamps of its index but the
        newest of them."""
        stamp_dir = key.directory(self.root).parent
        if stamp_dir.is_dir():
            return
        stamp_dir.mkdir(parents=True, exist_ok=True)
        old = [d for d in stamp_dir.parent.iterdir() if _revision(d.name) < _revision(key.stamp)]
        old.sort(key=lambda d: _revision(d.name))
        if old:
            self._keep_previous(key, old[-1])
            self._discard(old[:-1])

    def _keep_previous(self, key: CacheKey, stamp_dir: Path) -> None:
        """Move the newest older stamp aside (the index keeps its current stamp only),
        replacing the one kept before: the next builds of the new stamp start from it."""
        holder = self._previous_dir(key)
        holder.mkdir(parents=True, exist_ok=True)
        stale = [d for d in holder.iterdir() if d.name != stamp_dir.name]
        try:
            stamp_dir.rename(holder / stamp_dir.name)
        except OSError:  # another worker moved it first, or it is there already
            stale.append(stamp_dir)
        self._discard(stale)

    def _previous_dir(self, key: CacheKey) -> Path:
        index_dir = key.directory(self.root).parent.parent
        return self.root / ".previous" / index_dir.relative_to(self.root)

    def _discard(self, directories: list[Path]) -> None:
        """Move directories aside at once (a rename) and delete them in the background: a
        stamp with its thousands of shards takes long to delete, and the build that
        replaced it is waited for. A reader of a moved file sees it gone, as before."""
        trash = self.root / ".trash"
        trash.mkdir(exist_ok=True)
        moved: list[Path] = []
        for directory in directories:
            target = trash / f"{os.getpid()}-{threading.get_ident()}-{time.time_ns()}"
            with contextlib.suppress(OSError):  # another worker moved it first
                directory.rename(target)
                moved.append(target)
        if moved:
            # Everything in the trash: also what a stopped worker left half deleted.
            threading.Thread(target=_remove_all, args=(trash,), daemon=True).start()

    def _remember(self, key: CacheKey, name: str, artifact: Artifact) -> None:
        with self._guard:
            old = self._memory.pop((key.slot, name), None)
            self._size -= len(old[1].body) if old else 0
            self._memory[(key.slot, name)] = (key.stamp, artifact)
            self._size += len(artifact.body)
            while self._size > self.memory_bytes and len(self._memory) > 1:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._size -= len(dropped.body)


#: bumped when what a build leaves out or puts in changes, so that no build of an older
#: version is served or built on (v2: records conda or rattler cannot read are left out)
BUILD_RULES = "v2"


@functools.cache
def channel_cache(root: Path) -> ChannelCache:
    """The cache of one server's cache directory, one per process; older versions' builds
    (beside it, under ``root``) are never read."""
    return ChannelCache(root / BUILD_RULES)


def _artifact(body: bytes, mtime: float, media_type: str, key: CacheKey, name: str) -> Artifact:
    immutable = name.startswith(f"{SHARDS_DIR}/")
    return Artifact(body, etag_of(body), mtime, media_type, immutable, key, name)


def etag_of(body: bytes) -> str:
    # A content hash: equal bytes get equal ETags in every worker, and a change that only
    # touched packages a caller cannot see does not show in that caller's ETag.
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def _publish(path: Path, body: bytes) -> tuple[bytes, float]:
    """Create ``path`` with ``body`` unless it exists; return what ``path`` then holds."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}")
    with private_file(temporary) as out:
        out.write(body)
    try:
        os.link(temporary, path)  # atomic, and fails rather than replace another's
    except FileExistsError:
        body = path.read_bytes()
    finally:
        temporary.unlink()
    return body, path.stat().st_mtime


def _children(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except OSError:  # not there (yet, or any more)
        return []


def _remove_all(trash: Path) -> None:
    for directory in _children(trash):  # another thread may be deleting it too: no matter
        shutil.rmtree(directory, ignore_errors=True)


def _revision(stamp: str) -> int:
    head = stamp.split("-", 1)[0]
    return int(head) if head.isdigit() else 0
