"""The ``signatures`` section of a served repodata.json (conda content trust's layout):
``"<filename>": {"<pkg_mgr public key>": {"signature": "<hex>"}}`` for each listed file
its channel signed, after ``repodata_version`` (sorted keys, as the rest of the document).

Built with the document (:func:`ophis.server.services.channels.repodata._repodata`), from the same
list of files, so it names exactly the files the document lists. Incremental as the
package entries are: each entry is pre-encoded in the document's layout, and the next
build reuses the earlier build's bytes for every file it still lists, unless the owner's
signatures changed since (:attr:`ChannelSigning.generation`, bumped by a rotation), and
reads from the database only the new files' signatures. A channel that never had keys
gets no section: its documents stay byte-identical to an unsigned build.
"""

from __future__ import annotations

import bisect
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.core.repodata import PACKAGE_KEYS, build_current_repodata, dumps, encode_entry
from ophis.server.db.models import ChannelSigning, File, FileSignature
from ophis.server.services.catalog.servable import servable_repodata

_INDENT = b"\n    "
_SEPARATOR = b"," + _INDENT
#: a document from :func:`ophis.core.repodata.join_sections` ends so
_TAIL = b"\n}"


def with_signatures(
    session: Session,
    owner_id: int,
    subdir: str,
    listed: Sequence[tuple[list[int], list[str]]],
    earlier: tuple[memoryview, dict[str, Any] | None],
    added: set[int],
    body: bytes,
) -> tuple[bytes, dict[str, Any] | None]:
    """``body`` with its signatures section, and what the next build needs to reuse it.

    ``listed``: the (file ids, file names) of each section, ``earlier``: the earlier
    build's body and signature index, ``added``: the files that build did not list. The
    earlier build's entries of files still listed are copied as runs (one slice per run of
    consecutive entries, cut where a file went or a new one comes in), and their places
    shifted with ``map``: Python code runs per change, not per file."""
    generation = session.scalar(
        select(ChannelSigning.generation).where(ChannelSigning.owner_id == owner_id)
    )
    if generation is None:
        return body, None
    ids = [file_id for section in listed for file_id in section[0]]
    filenames = [name for section in listed for name in section[1]]
    listed_now = set(ids)
    earlier_body, index = earlier
    kept = _Kept.none()
    wanted = listed_now
    if index is not None and index.get("generation") == generation and "filenames" in index:
        kept = _Kept.of(index, listed_now - added)
        wanted = listed_now - set(kept.ids)
    fresh = _signatures(session, owner_id, subdir, sorted(wanted))
    name_of = dict(zip(ids, filenames, strict=True)) if fresh else {}
    new = sorted((name_of[file_id], file_id) for file_id in fresh)
    encoded = [encode_entry(name, fresh[file_id]) for name, file_id in new]
    return _assemble(body, earlier_body, kept, new, encoded, generation)


@dataclass(frozen=True)
class _Kept:
    """The earlier build's entries of files still listed, in its (file name) order."""

    ids: list[int]
    names: list[str]
    starts: list[int]
    ends: list[int]
    #: where a run of entries adjacent in the earlier build ends (indices into the lists)
    breaks: list[int]

    @classmethod
    def none(cls) -> _Kept:
        return cls([], [], [], [], [])

    @classmethod
    def of(cls, index: dict[str, Any], still: set[int]) -> _Kept:
        ids, names, spans = index["ids"], index["filenames"], index["spans"]
        starts, ends = spans[0::2], spans[1::2]
        flags = list(map(still.__contains__, ids))
        if all(flags):
            return cls(ids, names, starts, ends, [])
        places = list(itertools.compress(range(len(ids)), flags))
        steps = map(operator.sub, places[1:], places[:-1])
        breaks = list(itertools.compress(range(1, len(places)), map((1).__ne__, steps)))
        columns = (_pick(column, places) for column in (ids, names, starts, ends))
        return cls(*columns, breaks)


def _assemble(
    body: bytes,
    earlier: memoryview,
    kept: _Kept,
    new: list[tuple[str, int]],
    encoded: list[bytes],
    generation: int,
) -> tuple[bytes, dict[str, Any]]:
    """The document with its signatures section: kept runs and new entries in file name
    order, and the index of where each entry is."""
    inserts = [bisect.bisect_left(kept.names, name) for name, _ in new]
    cuts = sorted({0, len(kept.ids), *kept.breaks, *inserts})
    opening = b',\n  "signatures": ' + (b"{" + _INDENT if kept.ids or new else b"{}")
    position = len(body) - len(_TAIL) + len(opening)
    parts: list[bytes | memoryview] = []
    ids: list[int] = []
    names: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    j = 0
    for k, cut in enumerate(cuts):
        while j < len(new) and inserts[j] == cut:  # new entries go before kept ones here
            parts.append(encoded[j])
            ids.append(new[j][1])
            names.append(new[j][0])
            starts.append(position)
            ends.append(position + len(encoded[j]))
            position += len(encoded[j]) + len(_SEPARATOR)
            j += 1
        if k + 1 == len(cuts) or cut == cuts[k + 1]:
            continue
        a, b = cut, cuts[k + 1]
        first, last = kept.starts[a], kept.ends[b - 1]
        parts.append(earlier[first:last])
        shift = itertools.repeat(position - first, b - a)
        starts += map(operator.add, kept.starts[a:b], shift)
        shift = itertools.repeat(position - first, b - a)
        ends += map(operator.add, kept.ends[a:b], shift)
        ids += kept.ids[a:b]
        names += kept.names[a:b]
        position += last - first + len(_SEPARATOR)
    closing = b"\n  }" if parts else b""
    head = body[: -len(_TAIL)]
    document = b"".join([head, opening, _SEPARATOR.join(parts), closing, _TAIL])
    spans = list(itertools.chain.from_iterable(zip(starts, ends, strict=True)))
    return document, {"generation": generation, "ids": ids, "filenames": names, "spans": spans}


def _pick(values: Sequence[Any], positions: Sequence[int]) -> list[Any]:
    if len(positions) < 2:
        return [values[n] for n in positions]
    return list(operator.itemgetter(*positions)(values))


def _signatures(
    session: Session, owner_id: int, subdir: str, file_ids: list[int]
) -> dict[int, dict[str, dict[str, str]]]:
    """``file id -> {public key: {"signature": hex}}`` for those of ``file_ids`` signed."""
    if not file_ids:
        return {}
    wanted = set(file_ids)
    query = (
        select(FileSignature.file_id, FileSignature.public_key, FileSignature.record_signature)
        .join(File, File.id == FileSignature.file_id)
        .where(File.owner_id == owner_id, File.subdir == subdir)
    )
    if len(file_ids) <= 500:  # within every backend's bound-parameter limit
        query = query.where(FileSignature.file_id.in_(file_ids))
    found: dict[int, dict[str, dict[str, str]]] = {}
    for file_id, key, signature in session.connection().execute(query):
        if file_id in wanted:
            found.setdefault(file_id, {})[key] = {"signature": signature}
    return found


def current_repodata(repodata: bytes) -> bytes:
    """``current_repodata.json`` from a built repodata.json, its signatures section cut to
    the records it lists unchanged (a .conda record standing in for its .tar.bz2 twin gains
    ``legacy_bz2_*`` fields, which its signature does not cover)."""
    whole = orjson.loads(repodata)
    try:
        current = build_current_repodata(whole)
    except (ValueError, TypeError, KeyError, AttributeError):  # a record that cannot be read
        whole = servable_repodata(whole, "current_repodata.json")
        current = build_current_repodata(whole)
    signatures = whole.get("signatures")
    if signatures is not None:
        current["signatures"] = {
            filename: signatures[filename]
            for key in PACKAGE_KEYS
            for filename, record in current[key].items()
            if filename in signatures and whole[key].get(filename) == record
        }
    return dumps(current)
