"""Make small conda packages for tests, and find the shared real test data."""

from __future__ import annotations

import hashlib
import os
import re
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ophis.core.package_create import create_package

#: a fixed index.json timestamp (ms) keeps made packages reproducible
FIXED_TIMESTAMP = 1_700_000_000_000

_BUILD_NUMBER = re.compile(r"(?:^|_)(\d+)$")
# subdir -> (platform, arch) as conda-build writes them into index.json
_PLATFORM_ARCH = {
    "linux-64": ("linux", "x86_64"),
    "linux-aarch64": ("linux", "aarch64"),
    "linux-ppc64le": ("linux", "ppc64le"),
    "osx-64": ("osx", "x86_64"),
    "osx-arm64": ("osx", "arm64"),
    "win-64": ("win", "x86_64"),
    "win-32": ("win", "x86"),
}


def build_number_from(build: str) -> int:
    """The trailing ``_N`` (or a bare number) of a build string, else 0: 'py37_1000' -> 1000."""
    match = _BUILD_NUMBER.search(build)
    return int(match.group(1)) if match else 0


def make_index(
    name: str,
    version: str = "1.0",
    build: str = "0",
    *,
    subdir: str = "noarch",
    depends: Iterable[str] = (),
    **index_extra: Any,
) -> dict[str, Any]:
    """A sane index.json for a test package; ``index_extra`` adds or overrides keys."""
    platform, arch = _PLATFORM_ARCH.get(subdir, (None, None))
    index: dict[str, Any] = {
        "name": name,
        "version": version,
        "build": build,
        "build_number": build_number_from(build),
        "depends": list(depends),
        "subdir": subdir,
        "arch": arch,
        "platform": platform,
        "timestamp": FIXED_TIMESTAMP,
        "license": "BSD-3-Clause",
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    index.update(index_extra)
    return index


def make_package(
    dest_dir: str | os.PathLike[str],
    name: str,
    version: str = "1.0",
    build: str = "0",
    *,
    subdir: str = "noarch",
    depends: Iterable[str] = (),
    fmt: str = ".tar.bz2",
    files: Mapping[str, bytes] | None = None,
    icon: bytes | None = None,
    **index_extra: Any,
) -> Path:
    """Write ``<name>-<version>-<build><fmt>`` into ``dest_dir`` and return its path.
    ``icon`` becomes ``info/icon.png``, its md5 the ``icon`` of index.json, as conda-build
    writes them."""
    if icon is not None:
        index_extra.setdefault("icon", hashlib.md5(icon).hexdigest())
    index = make_index(name, version, build, subdir=subdir, depends=depends, **index_extra)
    extra_info = {"icon.png": icon} if icon is not None else {}
    return create_package(dest_dir, index=index, files=files or {}, fmt=fmt, extra_info=extra_info)


def conda_package(folder: Path, name: str, version: str = "1.0", **about: object) -> Path:
    """A small noarch conda package whose about.json carries ``about``."""
    index = make_index(name, version, subdir="noarch")
    return create_package(folder, index=index, about=dict(about), fmt=".tar.bz2")


def tiny_png(width: int = 1, height: int = 1, padding: int = 0) -> bytes:
    """A valid PNG of one colour; ``padding`` bytes of an ancillary chunk make it as large
    as a test needs (a size limit) while it stays a PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    rows = b"".join(b"\x00" + b"\x20\x80\xc0" * width for _ in range(height))
    chunks = [chunk(b"IHDR", header), chunk(b"IDAT", zlib.compress(rows))]
    if padding:
        chunks.append(chunk(b"tEXt", b"Comment\x00" + b"x" * padding))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + chunk(b"IEND", b"")


def testdata_dir() -> Path:
    """The shared real test data: ``$OPHIS_TESTDATA``, else ``<repo>/../shared/testdata``.

    Raises FileNotFoundError saying where it looked, so a test fails with a clear message.
    """
    if env := os.environ.get("OPHIS_TESTDATA"):
        found = Path(env)
        if found.is_dir():
            return found
        raise FileNotFoundError(f"OPHIS_TESTDATA={env} is not a directory")
    tried = []
    for root in _repo_roots():
        candidate = root.parent / "shared" / "testdata"
        if candidate.is_dir():
            return candidate
        tried.append(str(candidate))
    raise FileNotFoundError(
        "Ophis's shared test data was not found (looked in: "
        + ", ".join(tried or ["no repository root found"])
        + "). Set OPHIS_TESTDATA to the testdata directory."
    )


def _repo_roots() -> list[Path]:
    """Folders holding pyproject.toml above this file (a source checkout), then above cwd."""
    roots = []
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file():
                roots.append(folder)
                break
    return roots
