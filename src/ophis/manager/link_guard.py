"""Keeping every write and removal of a transaction inside its prefix.

``rattler.install`` links each package's ``info/paths.json`` entries and unlinks each
removed record's files, checking neither against the prefix: a symlink one package (or the
user) put in the prefix can lead another package's file out of it (``x -> .`` from one
package, ``l -> x/..`` from a second, then a third package's ``l/f``). So before rattler
gets a plan, :func:`check_plan_paths` resolves every path the plan writes or removes through
the symlinks already in the prefix and those the plan itself creates, as the OS will, and
refuses the plan (naming the packages) when one leaves the prefix. conda and pip refuse to
follow a symlink out of the target as well.

:func:`contained` is the same rule for the single paths Ophis itself removes or writes
(rollback, clobbers, doctor). The path syntax rules are :mod:`ophis.core.paths`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import rattler

from ophis.core.errors import TransactionError
from ophis.core.paths import entry_point_commands, resolve_inside, unsafe_path_reason
from ophis.manager.download import cache_stem
from ophis.manager.records import dist_name

_REMEDY = (
    "Nothing was changed. Do not install these packages: they may be malicious. Tell the "
    "channel's owner; remove any symlink you made in the environment that points outside it."
)


class UnsafeLinkError(TransactionError):
    """A transaction would write or remove a file outside its prefix."""

    exception_name = "UnsafeLinkError"


def contained(prefix: Path, relative: str) -> bool:
    """Whether ``prefix/relative`` is a safe relative path whose parent, resolved through
    what is on disk, lies inside ``prefix`` (the last component itself is not followed)."""
    if unsafe_path_reason(relative) is not None:
        return False
    parent = relative.split("/")[:-1]
    return resolve_inside(parent, _DiskLinks(prefix)) is not None


def check_plan_paths(
    prefix: Path,
    *,
    link: Sequence[rattler.RepoDataRecord | rattler.PrefixRecord],
    unlink: Sequence[rattler.PrefixRecord],
    final: Iterable[rattler.RepoDataRecord | rattler.PrefixRecord],
    cache_dir: Path,
) -> None:
    """Refuse (UnsafeLinkError) a plan that would write or remove anything outside
    ``prefix``, given what the prefix holds now and the symlinks the plan creates."""
    state = _PlanState(prefix)
    for record in unlink:
        for relative in (str(p) for p in record.files):
            if not contained(prefix, relative):
                raise _escape(prefix, record, relative, "remove", [])
    python = _python_version(final)
    planned = [(r, _entries(r, cache_dir / cache_stem(r), python)) for r in link]
    for record, entries in planned:
        for entry in entries:
            if entry.link_target is not None:
                state.add_link(entry.path, entry.link_target, dist_name(record))
    for record, entries in planned:
        for entry in entries:
            followed: list[str] = []
            if resolve_inside(entry.path.split("/"), state.reader(followed)) is None:
                raise _escape(prefix, record, entry.path, "write", state.owners(followed))


@dataclass(frozen=True)
class _Entry:
    path: str  #: where it lands in the prefix
    link_target: str | None = None  #: the symlink's target, for symlinks


class _DiskLinks:
    """``read_link`` over the prefix on disk; absolute targets that stay inside the prefix
    are made relative, others stay absolute (and so lead out)."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = Path(prefix).absolute()
        self.real = Path(os.path.realpath(self.prefix))
        self._seen: dict[str, str | None] = {}

    def __call__(self, relative: str) -> str | None:
        if relative not in self._seen:
            self._seen[relative] = self._read(relative)
        return self._seen[relative]

    def _read(self, relative: str) -> str | None:
        path = self.prefix / relative
        if not path.is_symlink():
            return None
        target = os.readlink(path)
        if not os.path.isabs(target):
            return target
        for root in (self.prefix, self.real):
            if Path(target) == root or Path(target).is_relative_to(root):
                return os.path.relpath(target, root / os.path.dirname(relative))
        return target


@dataclass
class _PlanState:
    """The prefix as it will be: its symlinks on disk, overlaid by the plan's symlinks."""

    prefix: Path
    links: dict[str, str] = field(default_factory=dict)
    link_owner: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.disk = _DiskLinks(self.prefix)

    def add_link(self, path: str, target: str, owner: str) -> None:
        self.links[path] = target
        self.link_owner[path] = owner

    def reader(self, followed: list[str]) -> Callable[[str], str | None]:
        def read(relative: str) -> str | None:
            target = self.links[relative] if relative in self.links else self.disk(relative)
            if target is not None:
                followed.append(relative)
            return target

        return read

    def owners(self, followed: Iterable[str]) -> list[str]:
        return [f"'{p}' ({self.link_owner.get(p, 'already in the environment')})" for p in followed]


def _escape(
    prefix: Path,
    record: rattler.RepoDataRecord | rattler.PrefixRecord,
    relative: str,
    action: str,
    through: list[str],
) -> UnsafeLinkError:
    how = f" through the symlinks {', '.join(dict.fromkeys(through))}" if through else ""
    return UnsafeLinkError(
        f"Refusing to {action} '{relative}' of {dist_name(record)}: it leads outside the "
        f"environment {prefix}{how}.",
        _REMEDY,
    )


def _python_version(final: Iterable[rattler.RepoDataRecord | rattler.PrefixRecord]) -> str:
    for record in final:
        if record.name.normalized == "python":
            major_minor = str(record.version).split(".")[:2]
            return ".".join(major_minor)
    return ""


def _entries(
    record: rattler.RepoDataRecord | rattler.PrefixRecord, extracted: Path, python: str
) -> list[_Entry]:
    """Where ``record``'s files land in the prefix (noarch python mapped as rattler maps it),
    from its extracted package; symlinks with their targets."""
    info = extracted / "info"
    noarch_python = bool(getattr(record.noarch, "python", False))
    try:
        paths = json.loads((info / "paths.json").read_text(encoding="utf-8")).get("paths", [])
        names = [str(entry.get("_path")) for entry in paths]
    except (OSError, ValueError, AttributeError):
        names = _lines(info / "files")
    entries = []
    for name in names:
        reason = unsafe_path_reason(name)
        if reason is not None:
            raise UnsafeLinkError(
                f"Refusing to link {dist_name(record)}: its metadata names '{name}', which "
                f"{reason}.",
                _REMEDY,
            )
        source = extracted / name
        target = os.readlink(source) if source.is_symlink() else None
        entries.append(_Entry(_noarch_path(name, python) if noarch_python else name, target))
    if noarch_python:
        commands = _entry_points(info)
        entries += [_Entry(f"bin/{command}") for command in commands]
    return entries


def _noarch_path(name: str, python: str) -> str:
    """rattler's (and conda's) noarch python layout on Unix."""
    if name.startswith("site-packages/"):
        return f"lib/python{python}/{name}"
    if name.startswith("python-scripts/"):
        return "bin/" + name.removeprefix("python-scripts/")
    return name


def _entry_points(info: Path) -> list[str]:
    for member in ("link.json", "noarch.json"):
        try:
            return entry_point_commands(json.loads((info / member).read_text(encoding="utf-8")))
        except (OSError, ValueError, AttributeError):
            continue
    return []


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]
