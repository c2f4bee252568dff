"""repodata.json and its companions, as pure functions over records.

A record is the JSON object conda keeps per package file (index.json plus md5, sha256 and
size). These functions build the documents a channel serves — repodata.json,
current_repodata.json, run_exports.json, channeldata.json — and apply repodata hotfixes
(``patch_instructions.json``). py-rattler reads and solves from repodata but does not build
these documents from records, patch them with conda's rules, or trim them the way
current_repodata.json is trimmed, so that is done here.
"""

from __future__ import annotations

import copy
import fnmatch
import functools
import itertools
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from rattler import MatchSpec, Version, VersionSpec

Record = dict[str, Any]

CONDA_V2 = ".conda"
CONDA_V1 = ".tar.bz2"
PACKAGE_KEYS = ("packages", "packages.conda")
REVOKED_DEPENDENCY = "package_has_been_revoked"


def packages_key(filename: str) -> str:
    """The repodata section a file belongs to: ``packages.conda`` for .conda files."""
    return "packages.conda" if filename.endswith(CONDA_V2) else "packages"


def build_repodata(
    subdir: str, records: Mapping[str, Record], base_url: str | None = None
) -> dict[str, Any]:
    """repodata.json for ``subdir`` from ``{filename: record}``.

    With ``base_url`` the document is repodata v2 (CEP-15): clients join package file
    names to that URL instead of the URL the repodata came from.
    """
    sections: dict[str, dict[str, Record]] = {key: {} for key in PACKAGE_KEYS}
    for filename in sorted(records):
        sections[packages_key(filename)][filename] = records[filename]
    info: dict[str, Any] = {"subdir": subdir}
    if base_url is not None:
        info["base_url"] = base_url
    return {
        "info": info,
        **sections,
        "removed": [],
        "repodata_version": 2 if base_url is not None else 1,
    }


def dumps(document: Any) -> bytes:
    """conda-index's layout: two-space indent, sorted keys, UTF-8.

    orjson writes the same bytes as ``json.dumps(indent=2, sort_keys=True)`` about ten
    times faster; the standard encoder falls back to pure Python once an indent is set.
    """
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


# --- repodata.json from pre-encoded entries -----------------------------------------------

#: where a package entry sits in :func:`dumps`'s layout: two levels down (document, section)
_ENTRY_INDENT = b"\n    "


def encode_entry(filename: str, record: Record | None) -> bytes:
    """One package entry (``"<filename>": {...}``) exactly as :func:`dumps` lays it out
    inside a repodata section, so that a document can be joined from entries encoded once.

    The record is encoded alone, then its lines are indented two levels: the layout puts
    a raw newline only between tokens (a newline inside a string is escaped), so indenting
    every newline is exact."""
    body = dumps(record).replace(b"\n", _ENTRY_INDENT)
    return orjson.dumps(filename) + b": " + body


@dataclass(frozen=True)
class JoinedRepodata:
    body: bytes
    #: the given entries in the document's order: ``packages`` then ``packages.conda``,
    #: each by file name
    order: list[int]
    #: start and end of each entry in ``body``, in the document's order (flat)
    spans: list[int]


def join_repodata(
    subdir: str, entries: Sequence[tuple[Any, ...]], base_url: str | None = None
) -> JoinedRepodata:
    """The bytes ``dumps(build_repodata(subdir, records, base_url))`` would give, from
    ``(filename, encode_entry(filename, record), ...)`` tuples in any order, without
    decoding a record; also where each entry landed, so that the next build can reuse it."""
    filenames = [entry[0] for entry in entries]
    legacy: list[int] = []
    conda: list[int] = []
    for i in sorted(range(len(entries)), key=filenames.__getitem__):
        (conda if filenames[i].endswith(CONDA_V2) else legacy).append(i)
    encoded = [entries[i][1] for i in legacy], [entries[i][1] for i in conda]
    body, spans = join_sections(subdir, *encoded, base_url=base_url)
    return JoinedRepodata(body, legacy + conda, spans)


def join_sections(
    subdir: str,
    packages: Sequence[bytes | memoryview],
    packages_conda: Sequence[bytes | memoryview],
    *,
    base_url: str | None = None,
) -> tuple[bytes, list[int]]:
    """:func:`join_repodata` for entries already in order (by file name) in their two
    sections: the document, and the start and end of each entry in it (flat, ``packages``
    first). The work per entry is done by ``bytes.join`` and ``itertools``, not Python."""
    info: dict[str, Any] = {"subdir": subdir}
    if base_url is not None:
        info["base_url"] = base_url
    parts = [b'{\n  "info": ' + dumps(info).replace(b"\n", b"\n  ")]
    position = len(parts[0])
    spans: list[int] = []
    separator = b"," + _ENTRY_INDENT
    for key, bodies in zip(PACKAGE_KEYS, (packages, packages_conda), strict=True):
        opening = f',\n  "{key}": '.encode() + (b"{" + _ENTRY_INDENT if bodies else b"{}")
        lengths = list(map(len, bodies))
        first = position + len(opening)
        gaps = [n + len(separator) for n in lengths[:-1]]
        starts = list(itertools.accumulate(gaps, initial=first)) if bodies else []
        ends = map(operator.add, starts, lengths)
        spans += itertools.chain.from_iterable(zip(starts, ends, strict=True))
        joined = separator.join(bodies)
        parts += [opening, joined, b"\n  }" if bodies else b""]
        position += len(opening) + len(joined) + (4 if bodies else 0)
    version = 2 if base_url is not None else 1
    parts.append(f',\n  "removed": [],\n  "repodata_version": {version}\n}}'.encode())
    return b"".join(parts), spans


# --- hotfixes ------------------------------------------------------------------------------


def apply_patch_instructions(
    repodata: Mapping[str, Any], instructions: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply conda's ``patch_instructions.json`` to a copy of ``repodata``.

    Rules (conda-index's): a patch for ``x.tar.bz2`` also applies to ``x.conda``; patches
    under ``packages.conda`` apply to .conda files only; nested objects merge, other values
    replace, and ``null`` deletes the key; patches for files the repodata lacks are
    ignored. ``revoke`` marks records revoked and adds an unsatisfiable dependency;
    ``remove`` drops records and lists them under ``removed``.
    """
    patched = copy.deepcopy(dict(repodata))
    for key in PACKAGE_KEYS:
        patched.setdefault(key, {})
    removed = set(patched.get("removed", []))

    for filename, patch in instructions.get("packages", {}).items():
        _patch_record(patched, filename, patch)
        if filename.endswith(CONDA_V1):
            _patch_record(patched, _as_conda(filename), patch)
    for filename, patch in instructions.get("packages.conda", {}).items():
        _patch_record(patched, filename, patch)

    for filename in _with_conda_twins(instructions.get("revoke", ())):
        record = patched[packages_key(filename)].get(filename)
        if record is not None:
            record["revoked"] = True
            record["depends"] = [*record.get("depends", []), REVOKED_DEPENDENCY]

    for filename in _with_conda_twins(instructions.get("remove", ())):
        if patched[packages_key(filename)].pop(filename, None) is not None:
            removed.add(filename)

    patched["removed"] = sorted(removed)
    return patched


def _as_conda(filename: str) -> str:
    return filename[: -len(CONDA_V1)] + CONDA_V2


def _with_conda_twins(filenames: Iterable[str]) -> list[str]:
    out: list[str] = []
    for filename in filenames:
        out.append(filename)
        if filename.endswith(CONDA_V1):
            out.append(_as_conda(filename))
    return out


def _patch_record(repodata: dict[str, Any], filename: str, patch: Mapping[str, Any]) -> None:
    record = repodata[packages_key(filename)].get(filename)
    if record is not None:
        _merge(record, patch)


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


# --- current_repodata.json -----------------------------------------------------------------


@dataclass
class _Candidate:
    filename: str
    record: Record
    version: Version = field(init=False)

    def __post_init__(self) -> None:
        self.version = _version(str(self.record["version"]))

    @property
    def sort_key(self) -> tuple[Version, int, int]:
        return (
            self.version,
            int(self.record.get("build_number", 0)),
            int(self.record.get("timestamp", 0)),
        )


def build_current_repodata(repodata: Mapping[str, Any]) -> dict[str, Any]:
    """current_repodata.json: the latest version of each package, plus what it needs.

    For each name, every build of the highest version is kept, so that all variants of
    the newest release stay installable. A .conda file stands in for its .tar.bz2 twin,
    which is then recorded as ``legacy_bz2_md5``/``legacy_bz2_size`` (conda's convention).
    Dependencies that the kept records cannot satisfy among themselves are back-filled with
    the newest record that does satisfy them, recursively.
    """
    candidates = _dedupe_formats(repodata)
    by_name: dict[str, list[_Candidate]] = defaultdict(list)
    for candidate in candidates:
        by_name[candidate.record["name"]].append(candidate)
    for group in by_name.values():
        group.sort(key=lambda c: c.sort_key, reverse=True)

    kept: dict[str, _Candidate] = {}
    for group in by_name.values():
        newest = group[0].version
        for candidate in group:
            if candidate.version == newest:
                kept[candidate.filename] = candidate
    _backfill_dependencies(kept, by_name)

    current = {key: value for key, value in repodata.items() if key not in PACKAGE_KEYS}
    sections: dict[str, dict[str, Record]] = {key: {} for key in PACKAGE_KEYS}
    for filename in sorted(kept):
        sections[packages_key(filename)][filename] = kept[filename].record
    current.update(sections)
    return current


def _dedupe_formats(repodata: Mapping[str, Any]) -> list[_Candidate]:
    conda_files = dict(repodata.get("packages.conda", {}))
    candidates: list[_Candidate] = []
    for filename, record in repodata.get("packages", {}).items():
        twin = _as_conda(filename)
        if twin in conda_files:
            merged = dict(conda_files.pop(twin))
            merged["legacy_bz2_md5"] = record.get("md5")
            merged["legacy_bz2_size"] = record.get("size")
            candidates.append(_Candidate(twin, merged))
        else:
            candidates.append(_Candidate(filename, dict(record)))
    candidates.extend(_Candidate(fn, dict(rec)) for fn, rec in conda_files.items())
    return candidates


def _backfill_dependencies(
    kept: dict[str, _Candidate], by_name: Mapping[str, list[_Candidate]]
) -> None:
    pending = list(kept.values())
    while pending:
        candidate = pending.pop()
        for dependency in candidate.record.get("depends", []):
            spec = _dependency(dependency)
            if spec is None:
                continue
            options = by_name.get(spec.name, [])
            if any(_matches(spec, c) for c in options if c.filename in kept):
                continue
            match = next((c for c in options if _matches(spec, c)), None)
            if match is not None:
                kept[match.filename] = match
                pending.append(match)


@dataclass(frozen=True)
class _Dependency:
    """What back-filling needs of a dependency's match spec, read once per distinct text
    (a channel's records repeat the same few thousand)."""

    name: str
    version: VersionSpec | None
    build: str | None


@functools.lru_cache(maxsize=65536)
def _dependency(text: str) -> _Dependency | None:
    try:
        spec = MatchSpec(text, strict=False)
    except Exception:  # an unparseable dependency is left to the solver to report
        return None
    if spec.name is None:
        return None
    version = _version_spec(spec.version) if spec.version is not None else None
    return _Dependency(spec.name.normalized, version, spec.build)


def _matches(spec: _Dependency, candidate: _Candidate) -> bool:
    if spec.version is not None and not spec.version.matches(candidate.version):
        return False
    if spec.build is not None:
        return fnmatch.fnmatchcase(str(candidate.record.get("build", "")), spec.build)
    return True


@functools.lru_cache(maxsize=4096)
def _version_spec(text: str) -> VersionSpec:
    return VersionSpec(text, strict=False)


@functools.lru_cache(maxsize=65536)
def _version(text: str) -> Version:
    return Version(text)


# --- run_exports.json and channeldata.json -------------------------------------------------


def build_run_exports(subdir: str, run_exports: Mapping[str, Mapping[str, Any]]) -> dict:
    """run_exports.json: ``{filename: {"run_exports": {...}}}`` in the two sections."""
    sections: dict[str, dict[str, Any]] = {key: {} for key in PACKAGE_KEYS}
    for filename in sorted(run_exports):
        entry = {"run_exports": dict(run_exports[filename])}
        sections[packages_key(filename)][filename] = entry
    return {"info": {"subdir": subdir, "version": 1}, **sections}
