"""A corpus of hostile packages and channels, built on demand (no stored binaries).

Each :class:`HostileCase` is a package whose *metadata* (not its tar members, which are
plain) names a path outside the place it is installed into, in ``.conda`` or ``.tar.bz2``.
:func:`snapshot` / :meth:`Snapshot.assert_unchanged` record a directory tree (the parent of
an environment, a cache or a mirror) so a test can show nothing outside its root changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conda_package_streaming.package_streaming import stream_conda_info

from ophis.core.package_create import create_package
from ophis.testing.packages import make_index

#: the file every hostile case tries to write, delete or replace, one level above its root
VICTIM = "victim.txt"
VICTIM_TEXT = b"the user's own file\n"
FORMATS = (".conda", ".tar.bz2")


def _paths_json(*entries: str) -> bytes:
    sha = hashlib.sha256(b"x").hexdigest()
    paths = [
        {"_path": e, "path_type": "hardlink", "sha256": sha, "size_in_bytes": 1} for e in entries
    ]
    return json.dumps({"paths": paths, "paths_version": 1}).encode()


@dataclass(frozen=True)
class HostileCase:
    """One package whose metadata names ``entry``, a path that leaves the prefix."""

    name: str
    entry: str  #: the offending entry, as the error must name it
    replace_info: Mapping[str, bytes | None] = field(default_factory=dict)
    index_extra: Mapping[str, Any] = field(default_factory=dict)

    def index(self) -> dict[str, Any]:
        return make_index(self.name, "1.0", "0", **self.index_extra)

    def build(self, dest: Path, fmt: str) -> Path:
        return create_package(
            dest,
            index=self.index(),
            files={"share/plain.txt": b"x"},
            replace_info=self.replace_info,
            fmt=fmt,
        )


_NOARCH_PYTHON = {"noarch": "python"}

#: every metadata file that names paths, with a path that leaves the prefix
METADATA_CASES = (
    HostileCase("paths-dotdot", "../victim.txt", {"paths.json": _paths_json("../victim.txt")}),
    HostileCase("paths-absolute", "/victim.txt", {"paths.json": _paths_json("/victim.txt")}),
    HostileCase(
        "paths-backslash", "..\\\\victim.txt", {"paths.json": _paths_json("..\\victim.txt")}
    ),
    HostileCase("paths-nul", "share/a\\x00b", {"paths.json": _paths_json("share/a\x00b")}),
    HostileCase("paths-drive", "C:/victim.txt", {"paths.json": _paths_json("C:/victim.txt")}),
    HostileCase(
        "files-dotdot",
        "../victim.txt",
        {"paths.json": None, "files": b"share/plain.txt\n../victim.txt\n"},
    ),
    HostileCase(
        "has-prefix-dotdot",
        "../victim.txt",
        {"has_prefix": b"/opt/anaconda1anaconda2anaconda3 text ../victim.txt\n"},
    ),
    HostileCase(
        "entry-point-dotdot",
        "../../victim",
        {
            "link.json": json.dumps(
                {"noarch": {"type": "python", "entry_points": ["../../victim = os:getcwd"]}}
            ).encode()
        },
        _NOARCH_PYTHON,
    ),
    HostileCase(
        "site-packages-dotdot",
        "site-packages/../../../victim.txt",
        {"paths.json": _paths_json("site-packages/../../../victim.txt")},
        _NOARCH_PYTHON,
    ),
)


@dataclass(frozen=True)
class LinkChain:
    """Packages that are each harmless alone but, installed together, would lead a later
    write out of the prefix through each other's symlinks: ``dot`` ships ``x -> .``,
    ``up`` ships ``l -> x/..`` (inside ``up`` on its own), ``writer`` ships ``l/victim.txt``."""

    dot: str = "chain-dot"
    up: str = "chain-up"
    writer: str = "chain-writer"

    def build(self, dest: Path, fmt: str) -> dict[str, Path]:
        def package(name: str, **payload: Any) -> Path:
            return create_package(dest, index=make_index(name, "1.0", "0"), fmt=fmt, **payload)

        return {
            self.dot: package(self.dot, symlinks={"x": "."}),
            self.up: package(self.up, symlinks={"l": "x/.."}),
            self.writer: package(self.writer, files={"l/victim.txt": b"overwritten\n"}),
        }


def write_repodata(channel: Path, packages: Iterable[Path], **overrides: Any) -> Path:
    """Index ``packages`` (already in ``channel/<subdir>/``) into ``repodata.json`` without
    checking them, as a hostile channel serves them. ``overrides`` (by file name: a dict of
    fields) change records after the fact, e.g. a wrong ``size`` or a ``build`` with '/'."""
    records: dict[str, dict[str, dict[str, Any]]] = {}
    for path in packages:
        subdir = path.parent.name
        data = path.read_bytes()
        record = dict(_index_of(path))
        record.update(
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data).hexdigest(),
        )
        record.update(overrides.get(path.name, {}))
        key = "packages.conda" if path.name.endswith(".conda") else "packages"
        records.setdefault(subdir, {"packages": {}, "packages.conda": {}})[key][path.name] = record
    for subdir, groups in records.items():
        body = {"info": {"subdir": subdir}, "repodata_version": 1, **groups}
        (channel / subdir / "repodata.json").write_text(json.dumps(body))
    (channel / "noarch").mkdir(parents=True, exist_ok=True)
    if not (channel / "noarch" / "repodata.json").exists():
        (channel / "noarch" / "repodata.json").write_text(
            json.dumps({"info": {"subdir": "noarch"}, "packages": {}})
        )
    return channel


def _index_of(path: Path) -> dict[str, Any]:
    """info/index.json of a package we built, read without any checks."""
    with path.open("rb") as handle:
        for tar, member in stream_conda_info(path.name, handle):
            if member.name == "info/index.json":
                reader = tar.extractfile(member)
                assert reader is not None
                return json.loads(reader.read())
    raise ValueError(f"{path} has no info/index.json")


# --- "nothing outside the root changed" ---------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Every entry under a directory: kind, and content or link target."""

    top: Path
    entries: dict[str, tuple[str, bytes]]
    skip: Callable[[str], bool]

    def assert_unchanged(self) -> None:
        after = _walk(self.top, self.skip)
        added = sorted(set(after) - set(self.entries))
        removed = sorted(set(self.entries) - set(after))
        changed = sorted(k for k in set(after) & set(self.entries) if after[k] != self.entries[k])
        assert not (added or removed or changed), (
            f"outside the root, under {self.top}: added {added}, removed {removed}, "
            f"changed {changed}"
        )


def snapshot(top: Path, *roots: Path) -> Snapshot:
    """Snapshot ``top`` (usually the parent of ``roots``), leaving out ``roots`` themselves:
    what happens inside them is the test's business, everything else must stay."""
    inside = [str(r.relative_to(top)) for r in roots]

    def skip(relative: str) -> bool:
        return any(relative == r or relative.startswith(r + "/") for r in inside)

    return Snapshot(top, _walk(top, skip), skip)


def plant_victim(folder: Path) -> Path:
    """The sentinel file a hostile package would write, replace or delete."""
    victim = folder / VICTIM
    victim.write_bytes(VICTIM_TEXT)
    return victim


def _walk(top: Path, skip: Callable[[str], bool]) -> dict[str, tuple[str, bytes]]:
    found: dict[str, tuple[str, bytes]] = {}
    for folder, dirs, files in os.walk(top):
        base = Path(folder)
        for name in [*dirs, *files]:
            path = base / name
            relative = str(path.relative_to(top))
            if skip(relative):
                continue
            if path.is_symlink():
                found[relative] = ("symlink", os.readlink(path).encode())
            elif path.is_dir():
                found[relative] = ("dir", b"")
            else:
                found[relative] = ("file", path.read_bytes())
        dirs[:] = [d for d in dirs if not skip(str((base / d).relative_to(top)))]
    return found
