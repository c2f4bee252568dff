"""Sharded repodata (CEP-16) from HTTP channels: fetch only the shards a solve can reach.

Starting from the names a request mentions, the shards of those names are fetched, the
names their records depend on are added, and so on until nothing new appears — across all
channels and subdirs at once, because a dependency may come from any of them. Shards are
content-addressed: a cached shard whose sha256 matches is never fetched again, and a
fetched shard whose sha256 does not match its name is refused. The records found are
written as one ``repodata.json`` per subdir into the cache, for the solver to read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import orjson
import rattler

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import Channel
from ophis.core.errors import OphisError
from ophis.core.repodata import PACKAGE_KEYS
from ophis.core.shards import read_shard, read_shards_index, shard_filename
from ophis.core.spec_name import spec_name

if TYPE_CHECKING:
    import httpx


class ShardError(OphisError):
    exception_name = "UnavailableInvalidChannel"


def dependency_name(spec: str) -> str | None:
    """The package a dependency string names; ``None`` for virtual packages (``__glibc``)."""
    name = spec_name(spec)
    return None if not name or name.startswith("__") else name


@dataclass
class ShardedSubdir:
    """A subdir whose channel offers ``repodata_shards.msgpack.zst``."""

    channel: Channel
    subdir: str
    index_path: Path
    cache_dir: Path
    shards: dict[str, str] = field(init=False)  #: name -> sha256 hex
    base_url: str = field(init=False)
    records: dict[str, dict[str, dict]] = field(init=False)

    def __post_init__(self) -> None:
        index = read_shards_index(self.index_path.read_bytes())
        self.shards = index["shards"]
        subdir_url = self.channel.url(self.subdir, with_token=True, with_auth=True) + "/"
        self.base_url = urljoin(subdir_url, index.get("info", {}).get("shards_base_url") or "")
        self.records = {key: {} for key in PACKAGE_KEYS}

    def load(
        self, client: httpx.Client, names: Iterable[str], pool: ThreadPoolExecutor
    ) -> set[str]:
        """Fetch the shards of ``names`` (those this subdir has); return what they depend on."""
        wanted = [self.shards[n] for n in names if n in self.shards]
        depends: set[str] = set()
        for shard in pool.map(lambda digest: self._shard(client, digest), wanted):
            for key in PACKAGE_KEYS:
                self.records[key].update(shard.get(key, {}))
                for record in shard.get(key, {}).values():
                    depends.update(filter(None, map(dependency_name, record.get("depends", []))))
        return depends

    def _shard(self, client: httpx.Client, digest: str) -> dict:
        cached = self.cache_dir / "shards" / shard_filename(digest)
        if cached.exists() and hashlib.sha256(cached.read_bytes()).hexdigest() == digest:
            return read_shard(cached.read_bytes())
        import httpx  # only a shard missing from the cache needs the network

        try:
            response = client.get(self.base_url + shard_filename(digest))
        except httpx.HTTPError as error:
            raise ShardError(
                f"Could not fetch a repodata shard from {self.channel.redacted_url}: "
                f"{type(error).__name__}.",
                "Check your network, or try again later.",
            ) from None
        body = response.content
        if response.status_code != 200 or hashlib.sha256(body).hexdigest() != digest:
            raise ShardError(
                f"{self.channel.redacted_url}/{self.subdir}: shard {digest[:12]}… is missing "
                f"or does not match its checksum (HTTP {response.status_code}).",
                "The channel's shard index is out of date; ask its owner to re-index it.",
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, body)
        return read_shard(body)

    def write_repodata(self) -> Path:
        key = hashlib.sha256(self.base_url.encode()).hexdigest()[:16]
        path = self.cache_dir / f"{key}.from-shards.json"
        write_atomic(path, orjson.dumps({"info": {"subdir": self.subdir}, **self.records}))
        return path


@dataclass(frozen=True)
class FullSubdir:
    """A subdir read whole (a file:// channel, or one without shards)."""

    channel: Channel
    subdir: str
    path: Path

    def depends(self, names: Iterable[str]) -> set[str]:
        sparse = rattler.SparseRepoData(self.channel.to_rattler(), self.subdir, self.path)
        found: set[str] = set()
        for name in names:
            try:
                records = sparse.load_records(rattler.PackageName(name))
            except Exception:  # a name rattler cannot parse has no records here
                continue
            for record in records:
                found.update(filter(None, map(dependency_name, record.depends)))
        return found


def resolve_closure(
    client: httpx.Client,
    sharded: list[ShardedSubdir],
    full: list[FullSubdir],
    names: Iterable[str],
    pool: ThreadPoolExecutor,
) -> None:
    """Load every shard reachable from ``names`` through dependencies."""
    seen: set[str] = set()
    pending = {n.lower() for n in names}
    while pending:
        seen |= pending
        found: set[str] = set()
        for source in sharded:
            found |= source.load(client, pending, pool)
        for source in full:
            found |= source.depends(pending)
        pending = found - seen
