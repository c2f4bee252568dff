"""Content codings of channel documents and pip pages: a client that says it takes zstd or
gzip (``Accept-Encoding``) gets ``repodata.json`` or a simple page compressed, from a twin
compressed once per change and kept beside the document in the channel cache.

Each coding has an ETag of its own (the document's, with ``-zstd`` or ``-gzip``), as RFC 9110
asks of strong validators; a conditional request matches any coding of the same bytes.
"""

from __future__ import annotations

import functools
import gzip
from collections.abc import Callable
from dataclasses import dataclass

import zstandard

from ophis.indexer.output import ZSTD_LEVEL
from ophis.server.services.channels.channel_cache import Artifact, ChannelCache


@dataclass(frozen=True)
class Coding:
    #: the twin's name in the cache is the document's with this suffix
    suffix: str
    compress: Callable[[bytes], bytes]
    #: the twin's media type when served by its own name (``repodata.json.zst``)
    media_type: str


#: preferred first. The zstd twin of ``repodata.json`` is ``repodata.json.zst``, the
#: document conda fetches itself (made the same way, so the same bytes).
CODINGS: dict[str, Coding] = {
    "zstd": Coding(".zst", lambda data: zstandard.compress(data, ZSTD_LEVEL), "application/zstd"),
    # mtime 0: every worker makes the same bytes, so they serve one ETag
    "gzip": Coding(
        ".gz", lambda data: gzip.compress(data, compresslevel=6, mtime=0), "application/gzip"
    ),
}
#: documents worth compressing: text (already compressed ones are sent as they are)
_TEXT = ("application/json", "text/html", "application/vnd.pypi.simple")
#: below this, compressing saves less than the header costs
_SMALLEST = 256


@dataclass(frozen=True)
class Representation:
    """What is sent for a document: its bytes, their coding (None: as built) and ETag."""

    body: bytes
    coding: str | None
    etag: str


@functools.lru_cache(maxsize=256)  # clients send a few strings, over and over
def accepted(accept_encoding: str) -> tuple[str, ...]:
    """The codings of :data:`CODINGS` a client accepts (``q=0`` refuses), in our order."""
    taken = set()
    for offer in accept_encoding.lower().split(","):
        coding, *params = (part.strip() for part in offer.split(";"))
        if not any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            taken.add(coding)
    return tuple(coding for coding in CODINGS if coding in taken or "*" in taken)


def representation(cache: ChannelCache, artifact: Artifact, accept_encoding: str) -> Representation:
    """The coding of ``artifact`` a client asking with ``accept_encoding`` gets; compresses
    (once per change) when the twin is not made yet."""
    if compressible(artifact):
        for coding in accepted(accept_encoding):
            spec = CODINGS[coding]
            twin = cache.twin(artifact, spec.suffix, spec.compress, spec.media_type)
            if twin is not None:
                return Representation(twin.body, coding, coded_etag(artifact.etag, coding))
    return Representation(artifact.body, None, artifact.etag)


def held_representation(
    cache: ChannelCache, artifact: Artifact, accept_encoding: str
) -> Representation | None:
    """:func:`representation` when it is ready in memory (None: it must be made or read)."""
    if compressible(artifact):
        for coding in accepted(accept_encoding):
            if artifact.key is None:
                break
            twin = cache.held(artifact.key, f"{artifact.name}{CODINGS[coding].suffix}")
            if twin is None:
                return None
            return Representation(twin.body, coding, coded_etag(artifact.etag, coding))
    return Representation(artifact.body, None, artifact.etag)


def compressible(artifact: Artifact) -> bool:
    return artifact.media_type.startswith(_TEXT) and len(artifact.body) >= _SMALLEST


def coded_etag(etag: str, coding: str) -> str:
    return f'{etag[:-1]}-{coding}"'


def same_bytes(tag: str) -> str:
    """An ETag without its coding: the validator of the bytes before compression."""
    for coding in CODINGS:
        tag = tag.replace(f'-{coding}"', '"')
    return tag
