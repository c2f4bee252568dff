"""Conda package files (``.conda`` and ``.tar.bz2``): read, validate, create, safely extract.

Every archive is treated as hostile until one walk over *all* of its tar headers has shown
that extracting it cannot write outside the destination, cannot expand without bound and
that its metadata agrees with its file name. Extraction repeats the same checks while it
writes (the file may change between the two passes) and writes into a private temporary
directory that is renamed into place only when everything succeeded.

We walk tar members with :mod:`tarfile` in stream mode ourselves instead of through
``conda_package_streaming.stream_conda_component`` because (a) that helper finds a
``.conda``'s components by the *file's* stem, so a renamed file fails with a bare
``LookupError`` where we must report the lying name, and (b) it hides the end of the tar
stream, which we need to see to tell a complete archive from a truncated or padded one.
Every header, and every metadata file read into memory, is bounded before it is read
(:mod:`ophis.core.archive_limits`); the metadata is checked against the types conda and
rattler read (:mod:`ophis.core.index_json`).
"""

from __future__ import annotations

import bz2
import contextlib
import functools
import hashlib
import os
import re
import shlex
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from conda_package_streaming.package_streaming import UMASK

from ophis.core import index_json
from ophis.core.archive_limits import (
    DEFAULT_LIMITS,
    ExtractionLimits,
    HeaderBudget,
    check_paths_listing,
    check_zip_directory,
    metadata_limit,
    open_zstd,
    read_tar,
    zstd,
)
from ophis.core.errors import InvalidPackageError
from ophis.core.paths import (
    MAX_SYMLINK_HOPS,
    SymlinkLoop,
    check_package_paths,
    entry_point_commands,
    resolve_symlinks,
)

__all__ = [
    "DEFAULT_LIMITS",
    "PACKAGE_EXTENSIONS",
    "ExtractionLimits",
    "PackageContents",
    "extract_package",
    "read_package",
    "split_package_filename",
    "validate_package",
]

PACKAGE_EXTENSIONS: tuple[str, ...] = (".conda", ".tar.bz2")

_MiB = 1024**2
_RATIO_FLOOR = 16 * _MiB  # below this, small files that compress well are not suspicious
_MAX_TRAILER_BYTES = _MiB  # zero padding allowed after the tar end marker
_DEFAULT_PLACEHOLDER = "/opt/anaconda1anaconda2anaconda3"
# conda-index leaves these index.json keys out of repodata.json
_NOT_IN_REPODATA = frozenset(
    [
        "arch",
        "binstar",
        "has_prefix",
        "machine",
        "mtime",
        "operatingsystem",
        "platform",
        "requires_features",
        "target-triplet",
        "ucs",
    ]
)
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_KINDS = {  # tar member types a conda package may hold
    **dict.fromkeys(tarfile.REGULAR_TYPES, "file"),
    tarfile.SYMTYPE: "symlink",
    tarfile.LNKTYPE: "hardlink",
}
_CONDA_COMPONENT = re.compile(r"^(info|pkg)-(.+)\.tar\.zst$")

_HOSTILE = "Do not install this package: it may be malicious. Tell the channel's owner."
_CORRUPT = "Download the package again, or rebuild it."
_METADATA = "Fix the package's metadata (its recipe) and rebuild it."
_MISNAMED = "Rename the file to match info/index.json, or rebuild the package."


@dataclass(frozen=True)
class PackageContents:
    """What a package says about itself, read and checked by :func:`read_package`."""

    filename: str
    index: dict[str, Any]
    about: dict[str, Any]
    run_exports: dict[str, Any]
    paths: list[dict[str, Any]]
    info_files: frozenset[str]
    icon: bytes | None
    size: int
    md5: str
    sha256: str

    def repodata_record(self) -> dict[str, Any]:
        """index.json plus md5, sha256, size — the record conda-index writes into repodata.json
        (keys sorted; like conda-index, drops arch/platform and other build-machine keys)."""
        record = {k: v for k, v in self.index.items() if k not in _NOT_IN_REPODATA}
        record.update(md5=self.md5, sha256=self.sha256, size=self.size)
        return dict(sorted(record.items()))


# --- file names ---------------------------------------------------------------------------


def split_package_filename(filename: str) -> tuple[str, str, str, str]:
    """'numpy-1.26.4-py311h_0.conda' -> ('numpy', '1.26.4', 'py311h_0', '.conda'). Raises
    InvalidPackageError if the name is not <name>-<version>-<build><.conda|.tar.bz2>.
    A directory part, if any, is ignored."""
    base = re.split(r"[/\\]", filename)[-1]
    ext = _extension(base)
    parts = base[: -len(ext)].rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        raise InvalidPackageError(
            base,
            f"the file name is not <name>-<version>-<build>{ext}",
            "Name the file after its info/index.json: <name>-<version>-<build>" + ext,
        )
    name, version, build = parts
    return name, version, build, ext


def _extension(filename: str) -> str:
    for ext in PACKAGE_EXTENSIONS:
        if filename.endswith(ext):
            return ext
    raise InvalidPackageError(
        filename,
        "has an unknown extension; a conda package ends in .conda or .tar.bz2",
        "Only .conda and .tar.bz2 files are conda packages.",
    )


# --- the member rules ---------------------------------------------------------------------


class _MemberRules:
    """Checks each tar member, in archive order, against everything seen before it.

    The paths of all components of one package share one namespace, because they are
    extracted into the same directory.
    """

    def __init__(self, filename: str, compressed_size: int, limits: ExtractionLimits) -> None:
        self.filename = filename
        self.compressed_size = compressed_size
        self.limits = limits
        self.kinds: dict[str, str] = {}  # path -> "dir" | "file" | "symlink" | "hardlink"
        self.symlinks: dict[str, str] = {}  # path -> link target as stored
        self.total_bytes = 0

    def reject(self, rule: str, remedy: str = _HOSTILE) -> InvalidPackageError:
        return InvalidPackageError(self.filename, rule, remedy)

    def check(self, member: tarfile.TarInfo) -> str:
        """The member's normalised path ('' for the root directory), or raise (members
        are counted, and their headers bounded, by :class:`HeaderBudget`)."""
        path = self._normalise(member.name)
        if member.isdir():
            if path:
                self._place(path, "dir")
            return path
        if not path:
            raise self.reject(f"has a member with an empty name ({member.name!r})")
        if member.ischr() or member.isblk():
            raise self.reject(f"contains a device file '{member.name}'")
        if member.isfifo():
            raise self.reject(f"contains a fifo '{member.name}'")
        kind = _KINDS.get(member.type)
        if kind is None:
            raise self.reject(f"member '{member.name}' has an unsupported type {member.type!r}")
        self._place(path, kind)
        if kind == "file":
            self._count_bytes(path, member.size)
        elif kind == "symlink":
            self._check_symlink(path, member.linkname)
            self.symlinks[path] = member.linkname
        else:
            self._check_hardlink(path, member.linkname)
        return path

    def finish(self) -> None:
        """Re-resolve every symlink once all are known: a later link can redirect an earlier
        one (``a -> b/..`` looks harmless until ``b -> .`` arrives)."""
        for path, target in self.symlinks.items():
            self._check_symlink(path, target)

    # -- pieces --

    def _count_bytes(self, path: str, size: int) -> None:
        limits = self.limits
        if size > limits.max_member_bytes:
            raise self.reject(
                f"member '{path}' is {size} bytes, more than the limit of "
                f"{limits.max_member_bytes} bytes (possible decompression bomb)"
            )
        self.total_bytes += size
        if self.total_bytes > limits.max_total_bytes:
            raise self.reject(
                f"expands to more than {limits.max_total_bytes} bytes (possible decompression bomb)"
            )
        ratio = self.total_bytes / max(self.compressed_size, 1)
        if self.total_bytes > _RATIO_FLOOR and ratio > limits.max_ratio:
            raise self.reject(
                f"expands to more than {limits.max_ratio:g} times its compressed size "
                "(possible decompression bomb)"
            )

    def _normalise(self, name: str) -> str:
        if "\\" in name or _WINDOWS_DRIVE.match(name):
            raise self.reject(f"contains a Windows-style path '{name}'")
        if name.startswith("/"):
            raise self.reject(f"contains an absolute path '{name}'")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            if lexical_resolve(parts) is None:
                raise self.reject(f"member '{name}' escapes the package root")
            raise self.reject(f"member '{name}' has a '..' path component")
        return "/".join(parts)

    def _place(self, path: str, kind: str) -> None:
        """Refuse writing through a symlink or a file, and any entry replacing another."""
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            parent_kind = self.kinds.setdefault(parent, "dir")
            if parent_kind == "symlink":
                raise self.reject(
                    f"member '{path}' would be written through the symlink '{parent}'"
                )
            if parent_kind != "dir":
                raise self.reject(f"member '{path}' would be written inside the file '{parent}'")
        previous = self.kinds.get(path)
        if previous is None or (previous == "dir" and kind == "dir"):
            self.kinds[path] = kind
        elif previous == "symlink":
            raise self.reject(f"member '{path}' appears twice: a later entry replaces the symlink")
        elif previous == "dir":
            raise self.reject(f"member '{path}' would replace a directory")
        else:
            raise self.reject(f"member '{path}' appears more than once")

    def _check_symlink(self, path: str, target: str) -> None:
        if not target:
            raise self.reject(
                f"symlink '{path}' has an empty target",
                "Rebuild the package; conda cannot "
                "install it either (its .tar.bz2 twin may be intact).",
            )
        if "\\" in target or _WINDOWS_DRIVE.match(target):
            raise self.reject(f"symlink '{path}' -> '{target}' has a Windows-style target")
        if target.startswith("/"):
            raise self.reject(
                f"symlink '{path}' -> '{target}' points outside the package (absolute target)"
            )
        start = path.split("/")[:-1]
        try:
            inside = resolve_symlinks([*start, *target.split("/")], self.symlinks.get)
        except SymlinkLoop:
            raise self.reject(
                f"has a symlink loop, or a chain of more than {MAX_SYMLINK_HOPS} symlinks"
            ) from None
        if inside is None:
            raise self.reject(f"symlink '{path}' -> '{target}' points outside the package")

    def _check_hardlink(self, path: str, target: str) -> None:
        parts = [p for p in target.split("/") if p not in ("", ".")]
        if target.startswith("/") or "\\" in target or lexical_resolve(parts) is None:
            raise self.reject(f"hard link '{path}' -> '{target}' points outside the package")
        if self.kinds.get("/".join(parts)) != "file" or ".." in parts:
            raise self.reject(
                f"hard link '{path}' -> '{target}' does not point to an earlier file of the package"
            )


def lexical_resolve(parts: list[str]) -> list[str] | None:
    stack: list[str] = []
    for part in parts:
        if part != "..":
            stack.append(part)
        elif not stack:
            return None
        else:
            stack.pop()
    return stack


# --- walking an archive -------------------------------------------------------------------


class _CappedReader:
    """Counts decompressed bytes and stops at a hard cap, whatever the tar headers claim."""

    def __init__(self, raw: IO[bytes], cap: int, rules: _MemberRules) -> None:
        self.raw = raw
        self.cap = cap
        self.rules = rules
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > self.cap:
            raise self.rules.reject(
                f"expands to more than {self.cap} bytes (possible decompression bomb)"
            )
        return data


@contextlib.contextmanager
def _as_corruption(filename: str) -> Iterator[None]:
    """Turn the libraries' many failure types into one rule a user can read."""
    try:
        yield
    except InvalidPackageError:
        raise
    except (
        tarfile.TarError,
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zstd.ZstdError,
        EOFError,
        OSError,  # bz2: "Invalid data stream"
        ValueError,
        UnicodeError,
        RuntimeError,
    ) as error:
        reason = str(error) or type(error).__name__
        raise InvalidPackageError(
            filename, f"is corrupt or truncated: {reason}", _CORRUPT
        ) from None


@dataclass
class _Walk:
    """One pass over every member of a package; ``stem`` is the .conda component stem."""

    path: Path
    filename: str
    ext: str
    rules: _MemberRules
    stem: str | None = None
    budget: HeaderBudget = field(init=False)

    def __post_init__(self) -> None:
        self.budget = HeaderBudget(self.rules.limits, self.rules.reject)

    def members(self) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo, str]]:
        """Yield (component, tar, member, normalised path) for every checked member."""
        with _as_corruption(self.filename):
            if self.ext == ".tar.bz2":
                with self.path.open("rb") as raw, bz2.open(raw) as stream:
                    yield from self._tar("all", stream)  # one tarball holds both parts
            else:
                yield from self._conda()
        self.rules.finish()

    def _conda(self) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo, str]]:
        check_zip_directory(self.path, self.rules.reject)
        with zipfile.ZipFile(self.path) as archive:
            components = self._components(archive)
            for component in ("info", "pkg"):
                entry = components.get(component)
                if entry is None:
                    continue  # a package with no payload (info only) is legitimate
                with open_zstd(
                    lambda entry=entry: archive.open(entry), self.rules.limits, self.rules.reject
                ) as stream:
                    yield from self._tar(component, stream)

    def _components(self, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
        found: dict[str, zipfile.ZipInfo] = {}
        stems: set[str] = set()
        for entry in archive.infolist():
            if entry.filename == "metadata.json":
                if entry.file_size > _MiB:
                    raise self.rules.reject("metadata.json is implausibly large", _CORRUPT)
                self._check_metadata(archive.read(entry))
                continue
            match = _CONDA_COMPONENT.match(entry.filename)
            if not match:
                continue  # conda ignores other entries, and never extracts them
            kind, stem = match.groups()
            if kind in found:
                raise self.rules.reject(f"has more than one {kind} component", _CORRUPT)
            found[kind] = entry
            stems.add(stem)
        if "info" not in found:
            raise self.rules.reject(
                "is not a conda package (no info-*.tar.zst component)", _CORRUPT
            )
        if len(stems) > 1:
            raise self.rules.reject(
                f"its components have different names: {sorted(stems)}", _CORRUPT
            )
        self.stem = stems.pop()
        return found

    def _check_metadata(self, data: bytes) -> None:
        metadata = _parse_json(self.filename, "metadata.json", data)
        version = metadata.get("conda_pkg_format_version")
        if version not in (None, 2):
            raise self.rules.reject(
                f"uses .conda format version {version!r}; only version 2 is known",
                "Upgrade Ophis, or convert the package to a format it knows.",
            )

    def _tar(
        self, component: str, stream: IO[bytes]
    ) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo, str]]:
        limits = self.rules.limits
        # tar headers and padding cost at most ~1.5 KiB a member on top of the contents
        cap = limits.max_total_bytes + 1536 * limits.max_members + 16 * _MiB
        capped = _CappedReader(stream, cap, self.rules)
        at_end = functools.partial(_check_trailer, rules=self.rules)
        for tar, member in read_tar(capped, self.budget, at_end):
            yield component, tar, member, self.rules.check(member)


def _check_trailer(tar: tarfile.TarFile, rules: _MemberRules) -> None:
    """After the end marker only zero padding may follow; anything else is a second
    archive or garbage that some tool might still read. Draining it also makes the
    decompressor verify the end of its stream (truncation, checksums)."""
    stream: Any = tar.fileobj
    seen = 0
    while chunk := stream.read(64 * 1024):
        seen += len(chunk)
        if chunk.count(0) != len(chunk):
            raise rules.reject(
                "is corrupt or truncated: data after the end of the tar archive", _CORRUPT
            )
        if seen > _MAX_TRAILER_BYTES:
            raise rules.reject(
                "is corrupt or truncated: too much padding after the tar archive", _CORRUPT
            )


def _read_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, name: str, filename: str
) -> bytes | None:
    """A metadata member's bytes, its size checked before it is read (an icon over its
    limit is left out: the package is fine without it)."""
    limit = metadata_limit(name)
    if member.size > limit:
        if name == "info/icon.png":
            return None
        raise InvalidPackageError(
            filename,
            f"{name} is {member.size} bytes, more than the limit of {limit} bytes",
            _CORRUPT,
        )
    with _as_corruption(filename):
        reader = tar.extractfile(member)
        return reader.read(limit + 1) if reader else b""


# --- reading ------------------------------------------------------------------------------

_WANTED_INFO = frozenset(
    f"info/{name}"
    for name in [
        "index.json",
        "about.json",
        "run_exports.json",
        "paths.json",
        "files",
        "has_prefix",
        "no_link",
        "icon.png",
        "link.json",
        "noarch.json",
    ]
)


def read_package(
    path: str | os.PathLike[str],
    *,
    subdir: str | None = None,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> PackageContents:
    """Read and check a package without writing anything. Every member of every component
    is checked (see the module docstring); raises InvalidPackageError naming the rule broken.
    ``subdir`` is the folder the package sits in; when given, index.json must agree.
    A missing or unreadable file raises the usual OSError."""
    path = Path(path)
    filename = path.name
    ext = _extension(filename)
    size, md5, sha256 = file_digests(path)
    if size == 0:
        raise InvalidPackageError(filename, "is empty (0 bytes)", _CORRUPT)
    walk = _Walk(path, filename, ext, _MemberRules(filename, size, limits))
    found: dict[str, bytes] = {}
    info_files: set[str] = set()
    info_bytes = 0
    for component, tar, member, name in walk.members():
        if not name.startswith("info/") or member.isdir():
            continue
        info_files.add(name)
        info_bytes += member.size
        if info_bytes > limits.max_info_bytes:
            raise InvalidPackageError(
                filename,
                f"its info/ folder expands to more than {limits.max_info_bytes} bytes "
                "(possible decompression bomb)",
                _HOSTILE,
            )
        if name in _WANTED_INFO and component != "pkg":  # as conda, ignore pkg-side info/
            if not member.isreg():
                raise InvalidPackageError(filename, f"{name} is not a regular file", _CORRUPT)
            data = _read_member(tar, member, name, filename)
            if data is not None:
                found[name] = data
    if "info/index.json" not in found:
        raise InvalidPackageError(filename, "is not a conda package (no info/index.json)", _CORRUPT)
    if "info/paths.json" in found:
        check_paths_listing(found["info/paths.json"], walk.budget.members, walk.rules.reject)
    index = _parse_json(filename, "info/index.json", found["info/index.json"])
    _check_metadata_types(filename, "info/index.json", index_json.check_index, index)
    _check_index(filename, index, subdir)
    _check_component_stem(filename, walk.stem)
    paths = _paths(filename, found, walk.rules.kinds)
    _check_metadata_paths(filename, found, paths)
    about = _optional_json(filename, found, "info/about.json")
    _check_metadata_types(filename, "info/about.json", index_json.check_about, about)
    run_exports = _optional_json(filename, found, "info/run_exports.json")
    _check_metadata_types(
        filename, "info/run_exports.json", index_json.check_run_exports, run_exports
    )
    return PackageContents(
        filename=filename,
        index=index,
        about=about,
        run_exports=run_exports,
        paths=paths,
        info_files=frozenset(info_files),
        icon=found.get("info/icon.png"),
        size=size,
        md5=md5,
        sha256=sha256,
    )


def validate_package(
    path: str | os.PathLike[str],
    *,
    subdir: str | None = None,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> None:
    """The checks of :func:`read_package`, for callers that only need a verdict."""
    read_package(path, subdir=subdir, limits=limits)


def file_digests(path: Path) -> tuple[int, str, str]:
    """Size, md5 and sha256 (hex) of a file, read once in chunks."""
    md5, sha256, size = hashlib.md5(), hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            md5.update(chunk)
            sha256.update(chunk)
            size += len(chunk)
    return size, md5.hexdigest(), sha256.hexdigest()


def _parse_json(filename: str, member: str, data: bytes) -> dict[str, Any]:
    try:
        value = index_json.loads(data, member)
    except ValueError as error:
        raise InvalidPackageError(filename, str(error), _CORRUPT) from None
    if not isinstance(value, dict):
        raise InvalidPackageError(filename, f"{member} is not a JSON object", _CORRUPT)
    return value


def _check_metadata_types(
    filename: str, member: str, check: Callable[[Any], None], document: Any
) -> None:
    try:
        check(document)
    except index_json.MetadataError as error:
        raise InvalidPackageError(filename, f"{member}: {error}", _METADATA) from None


def _optional_json(filename: str, found: Mapping[str, bytes], member: str) -> dict[str, Any]:
    return _parse_json(filename, member, found[member]) if member in found else {}


def _check_index(filename: str, index: dict[str, Any], subdir: str | None) -> None:
    for key in ("name", "version", "build"):
        if not isinstance(index.get(key), str) or not index[key]:
            raise InvalidPackageError(filename, f"info/index.json has no '{key}'", _CORRUPT)
    said = dict(zip(("name", "version", "build"), split_package_filename(filename), strict=False))
    for key, from_name in said.items():
        if index[key] != from_name:
            raise InvalidPackageError(
                filename,
                f"index.json says {key} '{index[key]}' but the file name says '{from_name}'",
                _MISNAMED,
            )
    in_index = index.get("subdir")
    if subdir is not None and in_index is not None and in_index != subdir:
        raise InvalidPackageError(
            filename,
            f"index.json says subdir '{in_index}' but the package sits in '{subdir}'",
            f"Move the package into the '{in_index}' folder of the channel.",
        )


def _check_component_stem(filename: str, stem: str | None) -> None:
    """conda finds a .conda's components by the file's own stem; others cannot install it."""
    expected = filename[: -len(".conda")]
    if stem is not None and stem != expected:
        raise InvalidPackageError(
            filename,
            f"its components are named for '{stem}', not for the file name '{expected}'",
            _MISNAMED,
        )


def _paths(
    filename: str, found: Mapping[str, bytes], kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    if "info/paths.json" in found:
        entries = _parse_json(filename, "info/paths.json", found["info/paths.json"]).get("paths")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise InvalidPackageError(filename, "info/paths.json has no list of paths", _CORRUPT)
        return entries
    # Old packages: conda builds the same entries from info/files and info/has_prefix.
    prefixes = _has_prefix(found.get("info/has_prefix", b""))
    no_link = set(_lines(found.get("info/no_link", b"")))
    paths = []
    for name in _lines(found.get("info/files", b"")):
        entry: dict[str, Any] = {
            "_path": name,
            "path_type": "softlink" if kinds.get(name) == "symlink" else "hardlink",
        }
        if name in prefixes:
            entry["prefix_placeholder"], entry["file_mode"] = prefixes[name]
        if name in no_link:
            entry["no_link"] = True
        paths.append(entry)
    return paths


def _check_metadata_paths(
    filename: str, found: Mapping[str, bytes], paths: list[dict[str, Any]]
) -> None:
    """Every path the metadata names stays inside the prefix (see ophis.core.paths)."""
    commands = [
        command
        for member in ("info/link.json", "info/noarch.json")
        for command in entry_point_commands(_optional_json(filename, found, member))
    ]
    listed = {
        "info/files": _lines(found.get("info/files", b"")),
        "info/has_prefix": list(_has_prefix(found.get("info/has_prefix", b""))),
        "info/no_link": _lines(found.get("info/no_link", b"")),
    }
    check_package_paths(filename, paths=paths, listed=listed, entry_points=commands)


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8", errors="surrogateescape")
    return [line.strip() for line in text.splitlines() if line.strip()]


def _has_prefix(data: bytes) -> dict[str, tuple[str, str]]:
    """``path`` or ``placeholder mode path`` per line; lines conda would not understand are
    skipped here (they only enrich ``paths``)."""
    result = {}
    for line in _lines(data):
        try:
            parts = [p.strip("\"'") for p in shlex.split(line, posix=False)]
        except ValueError:
            continue
        if len(parts) == 1:
            result[parts[0]] = (_DEFAULT_PLACEHOLDER, "text")
        elif len(parts) == 3:
            result[parts[2]] = (parts[0], parts[1])
    return result


# --- extracting ---------------------------------------------------------------------------


def extract_package(
    path: str | os.PathLike[str],
    destination: str | os.PathLike[str],
    *,
    limits: ExtractionLimits = DEFAULT_LIMITS,
) -> None:
    """Check the package, then extract it to ``destination`` (which must not exist, or be an
    empty directory). Extraction happens in a temporary directory beside ``destination`` and
    is renamed into place at the end, so after a failure nothing is left at ``destination``
    and nothing was written outside it."""
    validate_package(path, limits=limits)
    path, target = Path(path), Path(destination).absolute()
    if target.is_symlink() or (target.exists() and (not target.is_dir() or any(target.iterdir()))):
        raise FileExistsError(f"{target} already exists and is not an empty directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        _extract_into(path, staging, limits)
        staging.chmod(0o777 & ~_umask())
        os.replace(staging, target)
    except BaseException:
        remove_tree(staging)
        raise


def _extract_into(path: Path, root: Path, limits: ExtractionLimits) -> None:
    """Write the members while checking them again: the file may have changed since
    validation, and the rules are what keep every write inside ``root``."""
    filename = path.name
    walk = _Walk(
        path, filename, _extension(filename), _MemberRules(filename, path.stat().st_size, limits)
    )
    for _component, tar, member, name in walk.members():
        if not name:
            continue
        target = root / name
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            _hardlink(root / _clean(member.linkname), target)
        else:
            _write_file(tar, member, target, filename)


def _clean(name: str) -> str:
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _hardlink(source: Path, target: Path) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:  # e.g. a filesystem without hard links: a copy has the same content
        with source.open("rb") as src, _create(target, source.stat().st_mode) as dst:
            while chunk := src.read(1024 * 1024):
                dst.write(chunk)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, filename: str) -> None:
    with _as_corruption(filename):
        reader = tar.extractfile(member)
    mode = (member.mode & 0o777 | 0o600) & ~_umask()
    with _create(target, mode) as out:
        while True:
            with _as_corruption(filename):
                chunk = reader.read(1024 * 1024) if reader else b""
            if not chunk:
                break
            out.write(chunk)
    os.chmod(target, mode)
    with contextlib.suppress(OSError, OverflowError, ValueError):
        os.utime(target, (member.mtime, member.mtime))


def _create(target: Path, mode: int) -> IO[bytes]:
    # O_EXCL|O_NOFOLLOW: never write through anything already there
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_BINARY", 0)
    return os.fdopen(os.open(target, flags, mode & 0o777), "wb")


def _umask() -> int:
    # os.umask can only be read by setting it, which races with other threads;
    # conda-package-streaming reads it once at import, under the import lock
    return UMASK


def remove_tree(root: Path) -> None:
    """Remove what we wrote; rmtree never follows symlinks out of it."""
    shutil.rmtree(root, ignore_errors=True)
