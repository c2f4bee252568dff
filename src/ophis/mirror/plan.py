"""What a mirror run must do, computed from values only (no I/O, like ``ophis.core``).

Input: the upstream subdir's repodata (already patched by upstream: what its clients see),
the mirror's current repodata, and the package files the mirror holds. Output: the
records the mirror will publish (the filtered upstream records), the files to fetch,
the files to delete, and the records whose metadata alone changed (an upstream hotfix:
the file stays, its record is replaced).

Filters, applied in this order to the patched upstream records:

* ``include``: match specs (``numpy >=1.26``, ``py*``); a record is kept when it matches
  one (all are kept when there are none). Names may be globs, as in conda-mirror's
  whitelist; the rest is a conda version/build spec read by py-rattler.
* ``exclude``: match specs; a record matching one is dropped.
* ``licenses``: glob patterns (``BSD-*``, ``MIT``), case-insensitive, on the record's
  ``license``; a record without a license is dropped when any pattern is given.
* ``vulnerabilities`` with ``max_score``: a record a known vulnerability (a feed read by
  :func:`ophis.security.cve.load_feed`) affects with a score of at least ``max_score``
  (any score when None) is dropped -- the mirror side of a channel's CVE policy.
* ``newest``: per package name (and subdir), only the N highest versions, every build of
  each. Dependencies are not followed: a mirror holds what its filters select (conda-mirror
  does the same).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rattler import MatchSpec, Version, VersionSpec

from ophis.core import index_json
from ophis.core.errors import OphisError
from ophis.core.repodata import PACKAGE_KEYS, build_repodata
from ophis.security.cve import Vulnerability, build_index

Record = dict[str, Any]

#: a package name, or a glob over names, then the rest of the spec (``numpy>=1.26``)
_NAME = re.compile(r"^([A-Za-z0-9_.*?\[\]-]+)\s*(.*)$")


class MirrorFilterError(OphisError):
    """A filter given on the command line cannot be understood."""

    exception_name = "InvalidMatchSpec"


@dataclass(frozen=True)
class RecordSpec:
    """One ``--include``/``--exclude`` spec: a name (or glob), a version spec, a build glob."""

    text: str
    name: str
    version: str | None = None
    build: str | None = None

    @classmethod
    def parse(cls, text: str) -> RecordSpec:
        text = text.strip()
        match = _NAME.match(text)
        name, rest = (match.group(1), match.group(2).strip()) if match else ("", text)
        try:
            if not name:
                raise ValueError("it names no package")
            # the name goes through rattler as a placeholder, so that globs are allowed
            spec = MatchSpec(f"placeholder {rest}".strip() if rest else "placeholder", strict=False)
            version = spec.version
            if version is not None:
                _version_spec(str(version))
        except Exception as error:
            raise MirrorFilterError(
                f"'{text}' is not a package spec: {error}",
                "Write a name, optionally a glob, then a version spec: 'numpy >=1.26', "
                "'py*', 'zlib 1.2.*'.",
            ) from None
        return cls(text, name.lower(), str(version) if version else None, spec.build)

    def matches(self, record: Mapping[str, Any]) -> bool:
        if not fnmatch.fnmatchcase(str(record.get("name", "")).lower(), self.name):
            return False
        if self.build is not None and not fnmatch.fnmatchcase(
            str(record.get("build", "")), self.build
        ):
            return False
        if self.version is None:
            return True
        try:
            return _version_spec(self.version).matches(Version(str(record.get("version"))))
        except Exception:  # a version rattler cannot read matches no version spec
            return False


@functools.lru_cache(maxsize=1024)
def _version_spec(text: str) -> VersionSpec:
    return VersionSpec(text, strict=False)


@dataclass(frozen=True)
class Filters:
    include: tuple[RecordSpec, ...] = ()
    exclude: tuple[RecordSpec, ...] = ()
    licenses: tuple[str, ...] = ()
    newest: int | None = None
    vulnerabilities: tuple[Vulnerability, ...] = ()
    max_score: float | None = None

    @classmethod
    def parse(
        cls,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        licenses: tuple[str, ...] = (),
        newest: int | None = None,
        *,
        vulnerabilities: tuple[Vulnerability, ...] = (),
        max_score: float | None = None,
    ) -> Filters:
        if newest is not None and newest < 1:
            raise MirrorFilterError(
                f"--newest {newest} would mirror nothing.", "Give a number of 1 or more."
            )
        return cls(
            tuple(map(RecordSpec.parse, include)),
            tuple(map(RecordSpec.parse, exclude)),
            tuple(p.lower() for p in licenses),
            newest,
            tuple(v for v in vulnerabilities if max_score is None or (v.score or 0) >= max_score),
            max_score,
        )

    def exact_names(self) -> tuple[str, ...] | None:
        """The package names the includes confine the mirror to (None: any name may match),
        so that only their repodata shards need fetching."""
        if not self.include or any(set(s.name) & set("*?[") for s in self.include):
            return None
        return tuple(sorted({s.name for s in self.include}))

    def apply(self, records: Mapping[str, Record]) -> dict[str, Record]:
        kept = {fn: r for fn, r in records.items() if self._keeps(r)}
        return _newest(kept, self.newest) if self.newest else kept

    def _keeps(self, record: Mapping[str, Any]) -> bool:
        if self.include and not any(s.matches(record) for s in self.include):
            return False
        if any(s.matches(record) for s in self.exclude):
            return False
        if self.licenses:
            license_ = str(record.get("license") or "").lower()
            if not license_ or not any(fnmatch.fnmatchcase(license_, p) for p in self.licenses):
                return False
        return not self.vulnerabilities or not self._vulnerable(record)

    @functools.cached_property
    def _vulnerable_index(self) -> dict[str, list[Any]]:
        return build_index(self.vulnerabilities)

    def _vulnerable(self, record: Mapping[str, Any]) -> bool:
        entries = self._vulnerable_index.get(str(record.get("name", "")).lower())
        if not entries:
            return False
        try:
            version = Version(str(record.get("version", "")))
        except Exception:  # rattler's parse error: an odd version is no known vulnerability
            return False
        return any(spec.matches(version) for _vulnerability, spec in entries)


def _newest(records: Mapping[str, Record], count: int) -> dict[str, Record]:
    versions: dict[str, set[Version]] = defaultdict(set)
    parsed: dict[str, Version] = {}
    for filename, record in records.items():
        try:
            parsed[filename] = Version(str(record.get("version")))
        except Exception:  # an unreadable version cannot be ranked: leave it out
            continue
        versions[str(record.get("name"))].add(parsed[filename])
    allowed = {name: set(sorted(found, reverse=True)[:count]) for name, found in versions.items()}
    return {
        fn: r
        for fn, r in records.items()
        if fn in parsed and parsed[fn] in allowed[str(r.get("name"))]
    }


def records_of(repodata: Mapping[str, Any] | None) -> dict[str, Record]:
    """``{filename: record}`` over both sections (.tar.bz2 and .conda)."""
    records: dict[str, Record] = {}
    for key in PACKAGE_KEYS:
        records.update((repodata or {}).get(key) or {})
    return records


@dataclass(frozen=True)
class SubdirPlan:
    subdir: str
    #: the records the mirror publishes once the files are in place
    publish: dict[str, Record]
    #: upstream files to fetch (new, or with another sha256 than the mirror's)
    fetch: tuple[str, ...]
    #: mirror files upstream no longer has (or the filters now leave out)
    remove: tuple[str, ...]
    #: records whose metadata changed upstream (a hotfix) while the file stayed the same
    patched: tuple[str, ...]
    #: upstream's ``removed`` list (files hidden by its patches), carried over
    removed: tuple[str, ...] = ()
    unchanged: int = 0
    changes_repodata: bool = field(default=True)
    #: upstream records left out because the clients could not read them, and why
    unreadable: dict[str, str] = field(default_factory=dict)

    @property
    def fetch_bytes(self) -> int:
        return sum(int(self.publish[fn].get("size") or 0) for fn in self.fetch)

    def repodata(self, records: Mapping[str, Record] | None = None) -> dict[str, Any]:
        """The repodata.json the mirror publishes: ``records`` (default: :attr:`publish`)."""
        document = build_repodata(self.subdir, records if records is not None else self.publish)
        document["removed"] = sorted(self.removed)
        return document


def plan_subdir(
    subdir: str,
    upstream: Mapping[str, Any] | None,
    mirror: Mapping[str, Any] | None,
    present: Mapping[str, int],
    filters: Filters = Filters(),
    keep_removed: bool = False,
) -> SubdirPlan:
    """The plan for one subdir; ``present`` maps the mirror's package files to their sizes."""
    upstream_records = records_of(upstream)
    unreadable = _unreadable(upstream_records)
    wanted = filters.apply({fn: r for fn, r in upstream_records.items() if fn not in unreadable})
    current = records_of(mirror)
    fetch = sorted(fn for fn, r in wanted.items() if not _in_place(fn, r, current, present))
    gone = sorted(set(current) - set(wanted))
    publish = dict(wanted)
    if keep_removed:  # what upstream dropped stays published while its file is here
        publish.update({fn: current[fn] for fn in gone if fn in present})
    unpublished = set(present) - set(current) - set(wanted)  # left by an interrupted run
    remove = sorted((set(gone) - set(publish)) | unpublished)
    patched = sorted(
        fn for fn, r in wanted.items() if fn in current and fn not in fetch and current[fn] != r
    )
    removed = tuple((upstream or {}).get("removed") or ())
    changes = bool(fetch or remove or patched or set(publish) != set(current))
    changes = changes or mirror is None or tuple(mirror.get("removed") or ()) != tuple(removed)
    return SubdirPlan(
        subdir,
        publish,
        tuple(fetch),
        tuple(remove),
        tuple(patched),
        removed,
        unchanged=len(wanted) - len(fetch) - len(patched),
        changes_repodata=changes,
        unreadable=unreadable,
    )


def _unreadable(records: Mapping[str, Record]) -> dict[str, str]:
    """Upstream records conda or rattler could not read, and why: mirrored, one such
    record would make rattler refuse the mirror's whole repodata.json."""
    found = {}
    for filename, record in records.items():
        try:
            index_json.check_index(record)
        except index_json.MetadataError as error:
            found[filename] = str(error)
    return found


def _in_place(
    filename: str,
    record: Mapping[str, Any],
    current: Mapping[str, Record],
    present: Mapping[str, int],
) -> bool:
    """The mirror already holds this very file: published with the same sha256, and on disk
    with the size the record gives (a file is verified when it is fetched, not again)."""
    published = current.get(filename)
    if published is None or filename not in present:
        return False
    same = published.get("sha256") == record.get("sha256") and published.get("md5") == record.get(
        "md5"
    )
    return same and (record.get("size") is None or present[filename] == int(record["size"]))
