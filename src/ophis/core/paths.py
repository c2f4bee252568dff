"""Paths and names that come from package metadata or a channel, checked before they become
paths on disk.

A package's ``info/paths.json``, ``info/files``, ``info/has_prefix``, ``info/link.json``
entry points and a channel's record fields (name, version, build, subdir, file name) are
joined to a root (an environment, the package cache, a mirror folder) by every part of
Ophis. This module is the one place that says whether such a value is safe to join:

* :func:`unsafe_path_reason` for a relative path (no absolute path, drive letter, ``..``,
  empty or ``.`` component, backslash, NUL or other control character);
* :func:`check_package_paths` for every path a package's metadata names;
* :func:`check_record_fields` for a repodata record, with conda's and rattler's rules for
  names, versions, build strings, subdirs and file names;
* :func:`resolve_inside` to resolve a path through the symlinks a root holds (as the OS
  would), returning None when it leaves the root.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ophis.core.errors import InvalidPackageError, OphisError

__all__ = [
    "UnsafeRecordError",
    "check_package_paths",
    "check_record_fields",
    "check_relative_path",
    "entry_point_commands",
    "resolve_inside",
    "unsafe_path_reason",
]

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOSTILE = "Do not install this package: it may be malicious. Tell the channel's owner."
MAX_SYMLINK_HOPS = 40  # Linux gives ELOOP after 40 links

# rattler's PackageName: 0-9, a-z, A-Z, -, _, . ; conda's version characters (no '-');
# conda-build refuses build strings with anything but these (no '-', no separators)
_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
_VERSION = re.compile(r"^[A-Za-z0-9_.+!]+$")
_BUILD = re.compile(r"^[A-Za-z0-9_.+!]+$")
_SUBDIR = re.compile(r"^[a-z0-9]+(-[a-z0-9_]+)?$")
_FILENAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+!\-]*(\.conda|\.tar\.bz2)$")


class UnsafeRecordError(OphisError):
    """A channel's record has a field that cannot safely become part of a path."""

    exception_name = "UnsafeRecordError"


def unsafe_path_reason(path: object) -> str | None:
    """Why ``path`` (a relative path from metadata, '/'-separated) cannot be joined to a
    root, or None when it is a plain normalised relative path that stays inside it."""
    if not isinstance(path, str):
        return "is not a string"
    if not path:
        return "is empty"
    if _CONTROL.search(path):
        return "contains a control character"
    if "\\" in path:
        return "contains a backslash"
    if path.startswith("/"):
        return "is an absolute path"
    if _DRIVE.match(path):
        return "starts with a drive letter"
    parts = path.split("/")
    if ".." in parts:
        return "has a '..' component"
    if any(part in ("", ".") for part in parts):
        return "is not normalised (empty or '.' component)"
    return None


def check_relative_path(filename: str, what: str, path: object) -> str:
    """``path`` unchanged if safe, else InvalidPackageError naming the package and entry."""
    reason = unsafe_path_reason(path)
    if reason is not None:
        raise InvalidPackageError(filename, f"{what} entry {path!r} {reason}", _HOSTILE)
    return path  # type: ignore[return-value]


def entry_point_commands(link_json: Mapping[str, Any]) -> list[str]:
    """The command names of a noarch python package's entry points (``cmd = mod:func``),
    which become ``bin/<cmd>`` (``Scripts/<cmd>.exe`` on Windows). Reads ``info/link.json``
    (``{"noarch": {"entry_points": [...]}}``) and the older ``info/noarch.json``."""
    noarch = link_json.get("noarch", link_json)
    points = noarch.get("entry_points") if isinstance(noarch, Mapping) else None
    if not isinstance(points, list):
        return []
    return [str(point).split("=", 1)[0].strip() for point in points]


def check_package_paths(
    filename: str,
    *,
    paths: Iterable[Mapping[str, Any]] = (),
    listed: Mapping[str, Iterable[str]] = {},  # read only: info file name -> its paths
    entry_points: Iterable[str] = (),
) -> None:
    """Every path a package's metadata names must be safe to join to the prefix: the
    ``_path`` of each ``info/paths.json`` entry, the lines of ``info/files``,
    ``info/has_prefix`` and ``info/no_link`` (``listed``), and each entry point's command,
    which must be one plain file name. Raises InvalidPackageError naming the entry."""
    for entry in paths:
        check_relative_path(filename, "info/paths.json", entry.get("_path"))
    for info_file, names in listed.items():
        for name in names:
            check_relative_path(filename, info_file, name)
    for command in entry_points:
        check_relative_path(filename, "info/link.json entry point", command)
        if "/" in command:
            raise InvalidPackageError(
                filename, f"info/link.json entry point {command!r} is not a file name", _HOSTILE
            )


def check_record_fields(channel: str, filename: str, record: Mapping[str, Any]) -> None:
    """A repodata record's name, version, build, subdir and file name must follow conda's and
    rattler's rules before any of them becomes part of a path (the package cache folder
    ``<name>-<version>-<build>``, a mirror's ``<subdir>/<filename>``). Raises
    UnsafeRecordError naming the channel and the record."""
    fields = {
        "file name": (filename, _FILENAME),
        "name": (record.get("name"), _NAME),
        "version": (record.get("version"), _VERSION),
        "build": (record.get("build"), _BUILD),
    }
    if record.get("subdir") is not None:
        fields["subdir"] = (record.get("subdir"), _SUBDIR)
    for field, (value, rule) in fields.items():
        if not isinstance(value, str) or not rule.match(value) or value in (".", ".."):
            raise UnsafeRecordError(
                f"The channel {channel} has a record {filename!r} whose {field} {value!r} "
                "is not allowed (only letters, digits and . _ + ! and, in names, -).",
                "Do not use this channel's record: it may be malicious, or the channel is "
                "damaged. Tell the channel's owner.",
            )


class SymlinkLoop(ValueError):
    """A path went through more than :data:`MAX_SYMLINK_HOPS` symlinks (a loop, as the OS's
    ELOOP)."""


def resolve_inside(
    parts: Sequence[str], read_link: Callable[[str], str | None]
) -> list[str] | None:
    """Resolve ``parts`` (relative to a root) component by component as the OS would,
    following each symlink ``read_link(root-relative path)`` reports (None: not a symlink).
    Returns the resolved root-relative components, or None when the path leaves the root
    (a '..' above it, an absolute target, a loop or more than 40 hops)."""
    try:
        return resolve_symlinks(parts, read_link)
    except SymlinkLoop:
        return None


def resolve_symlinks(
    parts: Sequence[str], read_link: Callable[[str], str | None]
) -> list[str] | None:
    """:func:`resolve_inside`, but a loop raises :class:`SymlinkLoop` so that callers can
    name it apart from a path that leaves the root."""
    return _resolve(list(parts), read_link, [0])


def _resolve(
    parts: list[str], read_link: Callable[[str], str | None], hops: list[int]
) -> list[str] | None:
    stack: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return None
            stack.pop()
            continue
        stack.append(part)
        target = read_link("/".join(stack))
        if target is None:
            continue
        hops[0] += 1
        if hops[0] > MAX_SYMLINK_HOPS:
            raise SymlinkLoop("/".join(parts))
        if target.startswith("/") or _DRIVE.match(target):
            return None
        resolved = _resolve([*stack[:-1], *target.split("/")], read_link, hops)
        if resolved is None:
            return None
        stack = resolved
    return stack
