"""Hostile conda packages, built on demand by the tests and the benchmarks (no stored
binaries): tar header bombs (PAX and GNU long names with huge declared sizes, chains of
extended headers, sparse maps), many members, oversized metadata, zstd frames asking for a
huge window, decompression bombs in ``info/``, and index.json files with values the clients
cannot read.

Every package is written as a stream: a bomb of gigabytes of zeros costs its compressed size
on disk and a few MiB of memory to make. Each one also carries a sane ``info/index.json``
after the hostile part, so that only the hostile part can be the reason it is refused.
"""

from __future__ import annotations

import bz2
import json
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from backports import zstd

from ophis.testing.packages import make_index

Chunks = Iterable[bytes]
_BLOCK = 512
_CHUNK = 1024**2
FORMATS = (".conda", ".tar.bz2")


# --- raw tar pieces -------------------------------------------------------------------------


def header(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> bytes:
    """One raw 512-byte header that says whatever it is told (GNU numbers: any size)."""
    info = tarfile.TarInfo(name)
    info.size, info.type, info.linkname, info.mode = size, kind, linkname, 0o644
    return info.tobuf(tarfile.GNU_FORMAT)


def zeros(count: int) -> Iterator[bytes]:
    chunk = bytes(_CHUNK)
    while count > 0:
        yield chunk[: min(count, _CHUNK)]
        count -= _CHUNK


def padding(size: int) -> bytes:
    return bytes(-size % _BLOCK)


def member(name: str, data: bytes, kind: bytes = tarfile.REGTYPE) -> bytes:
    return header(name, len(data), kind) + data + padding(len(data))


def extended(kind: bytes, payload_size: int, payload: Chunks | None = None) -> Iterator[bytes]:
    """An extended header (PAX 'x'/'g', GNU 'L'/'K') declaring ``payload_size`` bytes,
    followed by that many bytes (zeros unless given)."""
    yield header("././@LongLink" if kind in b"LK" else "pax", payload_size, kind)
    yield from payload if payload is not None else zeros(payload_size)
    yield padding(payload_size)


def pax_record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    digits = len(str(len(body)))
    while len(str(len(body) + digits)) != digits:  # the length counts its own digits
        digits += 1
    return str(len(body) + digits).encode() + body


def pax_record_of(key: str, total: int) -> bytes:
    """A record of exactly ``total`` bytes."""
    start = f"{total} {key}=".encode()
    return start + b"x" * (total - len(start) - 1) + b"\n"


def index_member(index: dict[str, Any]) -> bytes:
    return member("info/index.json", json.dumps(index).encode())


def end() -> bytes:
    return bytes(2 * _BLOCK)


# --- writing packages -----------------------------------------------------------------------


def write_package(
    dest: Path,
    stem: str,
    fmt: str,
    info: Chunks,
    pkg: Chunks = (),
    *,
    zstd_options: dict[Any, int] | None = None,
) -> Path:
    """``<stem><fmt>`` in ``dest`` from raw tar chunks: one bz2 tar (info then pkg), or a
    .conda zip whose info and pkg tars are compressed with ``zstd_options``."""
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}{fmt}"
    if fmt == ".tar.bz2":
        _compress(path, _chain(info, pkg, [end()]), bz2.BZ2Compressor(9))
        return path
    with tempfile.TemporaryDirectory(dir=dest) as scratch, zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"conda_pkg_format_version": 2}))
        for component, chunks in (("info", info), ("pkg", pkg)):
            part = Path(scratch) / f"{component}-{stem}.tar.zst"
            _compress(part, _chain(chunks, [end()]), zstd.ZstdCompressor(options=zstd_options))
            archive.write(part, part.name)
    return path


def _chain(*parts: Chunks) -> Iterator[bytes]:
    for part in parts:
        yield from part


def _compress(path: Path, chunks: Iterable[bytes], compressor: Any) -> None:
    with path.open("wb") as out:
        for chunk in chunks:
            out.write(compressor.compress(chunk))
        out.write(compressor.flush())


def _sane(name: str) -> dict[str, Any]:
    return make_index(name, "1.0", "0")


def _package(dest: Path, name: str, fmt: str, hostile: Chunks, **options: Any) -> Path:
    """A package whose info/ starts with ``hostile`` and then holds a sane index.json."""
    info = _chain(hostile, [index_member(_sane(name))])
    return write_package(dest, f"{name}-1.0-0", fmt, info, **options)


# --- header bombs ---------------------------------------------------------------------------


def pax_header_bomb(dest: Path, fmt: str, declared: int, name: str = "paxbomb") -> Path:
    """A PAX header declaring ``declared`` bytes of records (zeros follow, all of them)."""
    return _package(dest, name, fmt, _pax(declared))


def _pax(declared: int) -> Iterator[bytes]:
    yield from extended(tarfile.XHDTYPE, declared)
    yield member("info/after-the-header", b"")


def pax_long_path(dest: Path, fmt: str, length: int, name: str = "paxpath") -> Path:
    """A PAX header whose one ``path`` record is ``length`` characters long."""
    record = pax_record("path", "info/" + "a" * length)
    hostile = [*extended(tarfile.XHDTYPE, len(record), [record]), member("x", b"")]
    return _package(dest, name, fmt, hostile)


def gnu_long_bomb(
    dest: Path, fmt: str, declared: int, *, link: bool = False, name: str = "gnubomb"
) -> Path:
    """A GNU long name ('L') or long link ('K') header declaring ``declared`` bytes."""
    kind = tarfile.GNUTYPE_LONGLINK if link else tarfile.GNUTYPE_LONGNAME
    hostile = [*extended(kind, declared), header("info/link", 0, tarfile.SYMTYPE, "x")]
    return _package(dest, name, fmt, hostile)


def pax_global_bomb(dest: Path, fmt: str, declared: int, name: str = "globalbomb") -> Path:
    """PAX global headers ('g'), whose records stay for every later member, of 1 MiB less
    a block each, until ``declared`` bytes in all."""
    each = 1024**2 - _BLOCK
    hostile = [
        chunk
        for _ in range(max(declared // each, 1))
        for chunk in extended(tarfile.XGLTYPE, each, [pax_record_of("comment", each)])
    ]
    return _package(dest, name, fmt, hostile)


def header_chain(dest: Path, fmt: str, count: int, name: str = "chain") -> Path:
    """``count`` small PAX headers in a row in front of one member (tarfile recurses)."""
    record = pax_record("comment", "x")
    one = b"".join(extended(tarfile.XHDTYPE, len(record), [record]))
    return _package(dest, name, fmt, [*(one for _ in range(count)), member("info/x", b"")])


def sparse_bomb(dest: Path, fmt: str, blocks: int, name: str = "sparse") -> Path:
    """A GNU sparse member ('S') whose map goes on for ``blocks`` extension blocks."""
    first = bytearray(header("info/sparse", 0, tarfile.GNUTYPE_SPARSE))
    first[482] = 1  # isextended
    first[148:156] = b"        "
    first[148:155] = f"{sum(first):06o}\0".encode()
    extension = bytearray(_BLOCK)
    for slot in range(21):
        extension[slot * 24 : slot * 24 + 24] = b"00000000001\0" + b"00000000001\0"
    extension[504] = 1
    hostile = [bytes(first), *(bytes(extension) for _ in range(blocks))]
    return _package(dest, name, fmt, hostile)


def many_members(dest: Path, fmt: str, count: int, name: str = "many") -> Path:
    """``count`` empty files in ``info/``."""
    empty = (header(f"info/m/{n:07d}") for n in range(count))
    return _package(dest, name, fmt, empty)


# --- metadata and decompression bombs -------------------------------------------------------


def oversized_metadata(
    dest: Path, fmt: str, member_name: str, size: int, name: str = "bigmeta"
) -> Path:
    """``member_name`` (e.g. info/paths.json) as a JSON object padded with spaces to
    ``size`` bytes; for index.json it is the package's own index.json."""
    body = json.dumps(_sane(name)).encode()
    hostile: list[bytes] = [header(member_name, size), body]
    hostile.extend(_spaces(size - len(body)))
    hostile.append(padding(size))
    if member_name == "info/index.json":
        return write_package(dest, f"{name}-1.0-0", fmt, hostile)
    return _package(dest, name, fmt, hostile)


def _spaces(count: int) -> Iterator[bytes]:
    chunk = b" " * _CHUNK
    while count > 0:
        yield chunk[: min(count, _CHUNK)]
        count -= _CHUNK


def info_bomb(dest: Path, fmt: str, size: int, name: str = "infobomb") -> Path:
    """An ``info/recipe/`` file of ``size`` zero bytes."""
    hostile = [header("info/recipe/big.bin", size), *zeros(size), padding(size)]
    return _package(dest, name, fmt, hostile)


def zstd_window_bomb(dest: Path, window_log: int, name: str = "window") -> Path:
    """A .conda whose zstd frames ask for a 2**window_log window (streamed, so the frame
    header carries the window, not the content size)."""
    options = {zstd.CompressionParameter.window_log: window_log}
    return _package(dest, name, ".conda", [member("info/x", b"")], zstd_options=options)


def paths_listing_bomb(dest: Path, fmt: str, entries: int, name: str = "listing") -> Path:
    """A paths.json listing ``entries`` paths that the package does not hold."""
    listing = {"paths": [{"_path": f"f{n}", "path_type": "hardlink"} for n in range(entries)]}
    return _package(dest, name, fmt, [member("info/paths.json", json.dumps(listing).encode())])


def zip_directory_bomb(dest: Path, entries: int, name: str = "zipdir") -> Path:
    """A sane .conda plus ``entries`` empty zip entries (zipfile reads each into memory)."""
    path = _package(dest, name, ".conda", [])
    with zipfile.ZipFile(path, "a") as archive:
        for n in range(entries):
            archive.writestr(f"junk/{n:08d}", b"")
    return path


def tar_gz_header_bomb(path: Path, declared: int, first: bytes) -> Path:
    """A .tar.gz (an sdist, a project archive) whose first member, ``first`` (raw tar
    bytes), sits behind a PAX header declaring ``declared`` bytes."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)  # 31: the gzip container
    _compress(path, _chain(extended(tarfile.XHDTYPE, declared), [first, end()]), compressor)
    return path


def sdist_header_bomb(dest: Path, declared: int) -> Path:
    pkg_info = b"Metadata-Version: 2.1\nName: demo-py\nVersion: 1.0\n"
    dest.mkdir(parents=True, exist_ok=True)
    first = member("demo_py-1.0/PKG-INFO", pkg_info)
    return tar_gz_header_bomb(dest / "demo_py-1.0.tar.gz", declared, first)


def project_header_bomb(dest: Path, declared: int) -> Path:
    manifest = b'[workspace]\nname = "demo"\nversion = "1.0"\n'
    dest.mkdir(parents=True, exist_ok=True)
    return tar_gz_header_bomb(
        dest / "demo-1.0.project.tar.gz", declared, member("ophis.toml", manifest)
    )


def with_index_text(dest: Path, fmt: str, text: bytes | str, name: str) -> Path:
    """A package ``<name>-1.0-0`` whose info/index.json is ``text`` exactly."""
    data = text.encode() if isinstance(text, str) else text
    return write_package(dest, f"{name}-1.0-0", fmt, [member("info/index.json", data)])


def with_index(dest: Path, fmt: str, name: str, **fields: Any) -> Path:
    """A package whose index.json is sane but for ``fields`` (None deletes a field)."""
    index = {**_sane(name), **fields}
    index = {key: value for key, value in index.items() if value is not None}
    return with_index_text(dest, fmt, json.dumps(index), name)


def nested(depth: int, name: str) -> str:
    """An index.json with an extra field nested ``depth`` lists deep."""
    return json.dumps(_sane(name))[:-1] + ', "extra": ' + "[" * depth + "]" * depth + "}"


#: (name, field, value) whose index.json conda or rattler cannot read; the name is the
#: package's, so that each is a file of its own
BAD_FIELDS: list[tuple[str, str, Any]] = [
    ("nodeps", "depends", "python >=3"),
    ("intdeps", "depends", [1, 2]),
    ("strbuild", "build_number", "0"),
    ("floatbuild", "build_number", 0.5),
    ("boolbuild", "build_number", True),
    ("negbuild", "build_number", -1),
    ("nobuildnum", "build_number", None),
    ("listcons", "constrains", "x"),
    ("intsubdir", "subdir", 64),
    ("listarch", "arch", ["x86_64"]),
    ("intplat", "platform", 1),
    ("badnoarch", "noarch", "sometimes"),
    ("intlicense", "license", 3),
    ("dictfamily", "license_family", {}),
    ("floatstamp", "timestamp", 1.5e12),
    ("strstamp", "timestamp", "yesterday"),
    ("hugestamp", "timestamp", 10**20),
    ("inttrack", "track_features", 7),
    ("listfeat", "features", ["a"]),
    ("shortmd5", "md5", "abc"),
    ("intsha", "sha256", 5),
    ("negsize", "size", -5),
    ("strpurls", "purls", "pkg:pypi/x"),
    ("badexports", "run_exports", {"weak": "x"}),
]

#: hostile index.json texts: (name, text maker, the words the refusal names)
BAD_TEXTS: list[tuple[str, Callable[[str], str], str]] = [
    ("nan", lambda n: json.dumps(_sane(n))[:-1] + ', "build_number": NaN}', "NaN"),
    ("inf", lambda n: json.dumps(_sane(n))[:-1] + ', "timestamp": Infinity}', "Infinity"),
    ("neginf", lambda n: json.dumps(_sane(n))[:-1] + ', "size": -Infinity}', "-Infinity"),
    ("deep", lambda n: nested(100, n), "nested"),
    ("verydeep", lambda n: nested(100_000, n), "nested"),
    ("notjson", lambda n: "{'name': 'x'}", "not valid JSON"),
    ("array", lambda n: "[]", "not a JSON object"),
]
