"""Sharded repodata (CEP-16): one msgpack+zstd shard per package name, and their index.

A subdir's ``repodata_shards.msgpack.zst`` maps each package name to the sha256 of its
shard file; shard files are content-addressed (``shards/<sha256>.msgpack.zst``), so a
client caches them forever and fetches only the names it needs. In shards, ``md5`` and
``sha256`` are stored as raw bytes, as the CEP specifies.

py-rattler's indexer can write shards but only as part of indexing a whole directory its
own way; the channel server needs shards from records held in a database, so encoding is
done here from plain repodata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgpack
import zstandard

from ophis.core.repodata import PACKAGE_KEYS

SHARDS_INDEX = "repodata_shards.msgpack.zst"
SHARDS_DIR = "shards"
_HASH_KEYS = ("md5", "sha256")
_LEVEL = 9


@dataclass(frozen=True)
class ShardedRepodata:
    index: bytes  #: the compressed ``repodata_shards.msgpack.zst``
    shards: dict[str, bytes]  #: ``sha256 hex -> compressed shard``
    names: dict[str, str]  #: ``package name -> sha256 hex``


def shard_filename(digest: str) -> str:
    return f"{digest}.msgpack.zst"


def build_shards(
    repodata: Mapping[str, Any], base_url: str = "", shards_base_url: str = "./shards/"
) -> ShardedRepodata:
    """Split repodata into per-name shards and build their index."""
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for key in PACKAGE_KEYS:
        for filename, record in repodata.get(key, {}).items():
            shard = grouped.setdefault(record["name"], {k: {} for k in PACKAGE_KEYS})
            shard[key][filename] = record
    shards: dict[str, bytes] = {}
    names: dict[str, str] = {}
    for name in sorted(grouped):
        body = encode_shard(grouped[name])
        digest = hashlib.sha256(body).hexdigest()
        shards[digest] = body
        names[name] = digest
    subdir = repodata.get("info", {}).get("subdir", "")
    index = encode_shards_index(subdir, names, base_url, shards_base_url)
    return ShardedRepodata(index, shards, names)


def encode_shard(sections: Mapping[str, Mapping[str, Any]]) -> bytes:
    """One compressed shard from ``{section: {filename: record}}`` (both sections are
    written, empty or not; records in the order given)."""
    shard: dict[str, Any] = {
        key: {filename: _binary_hashes(r) for filename, r in sections.get(key, {}).items()}
        for key in PACKAGE_KEYS
    }
    shard["removed"] = []
    return zstandard.ZstdCompressor(level=_LEVEL).compress(msgpack.packb(shard))


def encode_shards_index(
    subdir: str, names: Mapping[str, str], base_url: str = "", shards_base_url: str = "./shards/"
) -> bytes:
    """The compressed shard index from ``{package name: shard sha256 hex}``."""
    index = {
        "version": 1,
        "info": {
            "subdir": subdir,
            "base_url": base_url,
            "shards_base_url": shards_base_url,
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        "shards": {name: bytes.fromhex(names[name]) for name in sorted(names)},
    }
    return zstandard.ZstdCompressor(level=_LEVEL).compress(msgpack.packb(index))


def _binary_hashes(record: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(record)
    for key in _HASH_KEYS:
        if isinstance(out.get(key), str):
            out[key] = bytes.fromhex(out[key])
    return out


def read_shards_index(data: bytes) -> dict[str, Any]:
    """Decode a shards index; shard digests are returned as hex strings."""
    index = _unpack(data)
    index["shards"] = {name: bytes(d).hex() for name, d in index.get("shards", {}).items()}
    return index


def read_shard(data: bytes) -> dict[str, Any]:
    """Decode a shard into repodata-shaped records with hex ``md5``/``sha256``."""
    shard = _unpack(data)
    for key in PACKAGE_KEYS:
        for record in shard.get(key, {}).values():
            for hash_key in _HASH_KEYS:
                if isinstance(record.get(hash_key), bytes):
                    record[hash_key] = record[hash_key].hex()
    return shard


def _unpack(data: bytes) -> dict[str, Any]:
    # Streaming decompression: writers need not record the content size in the frame.
    raw = zstandard.ZstdDecompressor().stream_reader(data).read()
    return msgpack.unpackb(raw, raw=False)
