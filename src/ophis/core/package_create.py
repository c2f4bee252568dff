"""Creating conda package files (``.conda`` and ``.tar.bz2``) from bytes in memory.

Used by the tests, the benchmarks and (later) the builder. Every file is written under a
temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conda_package_streaming.create import conda_builder

from ophis.core.package_file import PACKAGE_EXTENSIONS, lexical_resolve, remove_tree

_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def create_package(
    destination_dir: str | os.PathLike[str],
    *,
    index: dict[str, Any],
    files: Mapping[str, bytes] = {},  # read only, never mutated
    symlinks: Mapping[str, str] = {},
    about: dict[str, Any] | None = None,
    run_exports: dict[str, Any] | None = None,
    extra_info: Mapping[str, bytes] = {},
    fmt: str = ".conda",
    compression_level: int = 19,
    replace_info: Mapping[str, bytes | None] = {},
) -> Path:
    """Write ``<name>-<version>-<build><fmt>`` into ``destination_dir`` atomically and return
    its path. ``files`` and ``symlinks`` (path -> target) are the payload; ``extra_info``
    entries land as ``info/<key>``. Files under ``bin/`` are made executable. Symlink
    targets are stored as given (tests use this to build hostile packages), and
    ``replace_info`` (``info/`` name -> bytes, None to leave it out) replaces generated
    metadata such as ``paths.json`` and ``files`` as given, unchecked (for the same tests).
    ``compression_level`` is zstd's for .conda (19, conda-build's default, is slow on
    large payloads)."""
    if fmt not in PACKAGE_EXTENSIONS:
        raise ValueError(f"fmt must be one of {PACKAGE_EXTENSIONS}, not {fmt!r}")
    stem = _stem_of(index)
    _check_payload_paths(files, symlinks, extra_info)
    mtime = _mtime_of(index)
    members = [
        *_replaced(
            _info_members(index, files, symlinks, about, run_exports, extra_info), replace_info
        ),
        *sorted({**files, **symlinks}.items()),
    ]
    tarinfos = [_tarinfo(path, content, path in symlinks, mtime) for path, content in members]
    out_dir = Path(destination_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if fmt == ".tar.bz2":
        return _write_tar_bz2(out_dir, stem, tarinfos)
    return _write_conda(out_dir, stem, tarinfos, compression_level)


def _stem_of(index: Mapping[str, Any]) -> str:
    try:
        name, version, build = (str(index[key]) for key in ("name", "version", "build"))
    except KeyError as missing:
        raise ValueError(f"index needs name, version and build; {missing} is missing") from None
    if not name or not version or not build or "-" in version or "-" in build:
        raise ValueError(f"cannot name a package {name!r} {version!r} {build!r}")
    return f"{name}-{version}-{build}"


def _mtime_of(index: Mapping[str, Any]) -> int:
    timestamp = index.get("timestamp")
    # index.json timestamps are in milliseconds; fixed mtimes keep archives reproducible
    return int(timestamp // 1000) if isinstance(timestamp, int | float) and timestamp > 0 else 0


def _check_payload_paths(
    files: Mapping[str, bytes], symlinks: Mapping[str, str], extra_info: Mapping[str, bytes]
) -> None:
    for path in (*files, *symlinks, *(f"info/{key}" for key in extra_info)):
        parts = path.split("/")
        if (
            not path
            or path.startswith("/")
            or "\\" in path
            or any(p in ("", ".", "..") for p in parts)
        ):
            raise ValueError(f"package paths must be plain relative paths, not {path!r}")
    for path in (*files, *symlinks):
        if path.split("/")[0] == "info":
            raise ValueError(f"{path!r}: put info/ files in extra_info")
    if set(files) & set(symlinks):
        raise ValueError(f"paths both files and symlinks: {sorted(set(files) & set(symlinks))}")
    for path, target in symlinks.items():
        if not target:
            raise ValueError(f"symlink {path!r} needs a target")
    reserved = {"index.json", "paths.json", "files"} & set(extra_info)
    if reserved:
        raise ValueError(f"extra_info cannot replace {sorted(reserved)}")


def _info_members(
    index: Mapping[str, Any],
    files: Mapping[str, bytes],
    symlinks: Mapping[str, str],
    about: Mapping[str, Any] | None,
    run_exports: Mapping[str, Any] | None,
    extra_info: Mapping[str, bytes],
) -> list[tuple[str, bytes]]:
    info: dict[str, bytes] = {
        "info/index.json": _json_bytes(index),
        "info/paths.json": _json_bytes(_paths_json(files, symlinks)),
        "info/files": "".join(f"{p}\n" for p in sorted({*files, *symlinks})).encode(),
    }
    if about is not None:
        info["info/about.json"] = _json_bytes(about)
    if run_exports is not None:
        info["info/run_exports.json"] = _json_bytes(run_exports)
    for key, data in extra_info.items():
        if f"info/{key}" in info:
            raise ValueError(f"extra_info {key!r} is also given as an argument")
        info[f"info/{key}"] = data
    return sorted(info.items())


def _replaced(
    info: list[tuple[str, bytes]], replace_info: Mapping[str, bytes | None]
) -> list[tuple[str, bytes]]:
    members = dict(info)
    for key, data in replace_info.items():
        members.pop(f"info/{key}", None)
        if data is not None:
            members[f"info/{key}"] = data
    return sorted(members.items())


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def _paths_json(files: Mapping[str, bytes], symlinks: Mapping[str, str]) -> dict[str, Any]:
    """paths.json v1 as conda-build writes it: a symlink to a file carries that file's digest,
    any other symlink the digest of nothing."""
    digests = {path: (hashlib.sha256(data).hexdigest(), len(data)) for path, data in files.items()}
    entries = [
        {"_path": p, "path_type": "hardlink", "sha256": d[0], "size_in_bytes": d[1]}
        for p, d in digests.items()
    ]
    for path, target in symlinks.items():
        pointed = "/".join(lexical_resolve(_join_link(path, target)) or [])
        sha, size = digests.get(pointed, (_EMPTY_SHA256, 0))
        entries.append(
            {"_path": path, "path_type": "softlink", "sha256": sha, "size_in_bytes": size}
        )
    return {"paths": sorted(entries, key=lambda e: e["_path"]), "paths_version": 1}


def _join_link(path: str, target: str) -> list[str]:
    if target.startswith("/"):
        return [".."]  # outside: matches nothing
    return [p for p in [*path.split("/")[:-1], *target.split("/")] if p not in ("", ".")]


def _tarinfo(
    path: str, content: bytes | str, is_symlink: bool, mtime: int
) -> tuple[tarfile.TarInfo, bytes | None]:
    member = tarfile.TarInfo(path)
    member.mtime = mtime
    member.uid = member.gid = 0
    member.uname = member.gname = ""
    if is_symlink:
        member.type = tarfile.SYMTYPE
        member.linkname = str(content)
        member.mode = 0o777
        return member, None
    data = bytes(content)  # type: ignore[arg-type]
    member.size = len(data)
    member.mode = 0o755 if path.startswith("bin/") else 0o644
    return member, data


def _add_all(tar: tarfile.TarFile, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    for member, data in members:
        tar.addfile(member, io.BytesIO(data) if data is not None else None)


def _write_tar_bz2(
    out_dir: Path, stem: str, members: list[tuple[tarfile.TarInfo, bytes | None]]
) -> Path:
    # conda_package_handling.api.create only packs files from a directory on disk; staging
    # every payload on disk first would double the I/O, so the tarball is written directly.
    final = out_dir / f"{stem}.tar.bz2"
    fd, temp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=out_dir)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:bz2", compresslevel=9) as tar,
        ):
            _add_all(tar, members)
        os.replace(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return final


def _write_conda(
    out_dir: Path,
    stem: str,
    members: list[tuple[tarfile.TarInfo, bytes | None]],
    compression_level: int,
) -> Path:
    # conda_builder names the output after the stem, so build in a private folder and rename
    final = out_dir / f"{stem}.conda"
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".part", dir=out_dir))
    try:
        # threads=0: no worker thread per tiny package
        with conda_builder(
            stem, staging, compression_level=compression_level, compression_threads=0
        ) as tar:
            _add_all(tar, members)
        os.replace(staging / final.name, final)
    finally:
        remove_tree(staging)
    return final
