"""Bounds on what reading a conda package archive may cost, checked before the bytes are read.

Python's :mod:`tarfile` reads the whole payload of an extended header (PAX ``x``/``g``, GNU
``L``/``K`` long names and links) into memory as soon as it meets the header, whatever size
the header declares; it follows a chain of such headers by recursion; it reads a GNU sparse
map block by block with no end but the one the archive declares; and a TarFile keeps every
member it has read. A 99 KB ``.conda`` (zeros compress well) can so make a reader hold
gigabytes. conda-package-streaming hands tarfile the decompressed stream as it is, and no
maintained library offers a bounded tar reader, so the checks are hand-written here, in a
:class:`tarfile.TarInfo` subclass: ``_proc_member`` is the documented extension point where
a header is seen before its payload is read. Everything else about the archive (its paths,
its links, its total size) is checked by :mod:`ophis.core.package_file` as members arrive.
"""

from __future__ import annotations

import contextlib
import struct
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ophis.core.errors import InvalidPackageError

try:  # the zstd binding conda-package-streaming itself uses
    from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[import-not-found,no-redef]

__all__ = [
    "DEFAULT_LIMITS",
    "ExtractionLimits",
    "HeaderBudget",
    "bounded_tarinfo",
    "check_paths_listing",
    "check_zip_directory",
    "guarded_tarinfo",
    "metadata_limit",
    "open_zstd",
    "read_tar",
    "zstd_window_size",
]

_KiB, _MiB = 1024, 1024**2


@dataclass(frozen=True)
class ExtractionLimits:
    """Bounds that keep a hostile archive from exhausting disk, memory or time."""

    max_total_bytes: int = 8 * 1024**3  # total uncompressed size
    max_member_bytes: int = 4 * 1024**3
    max_ratio: float = 200.0  # uncompressed/compressed, checked once total > 16 MiB
    max_members: int = 250_000  # every member's path is kept to check the later ones
    #: one extended header's payload (a PAX record set, a GNU long name or link); Linux
    #: paths end at 4 KiB, PAX records with extended attributes stay far below this
    max_header_bytes: int = _MiB
    #: extended headers in front of one member (GNU tar writes 'L' then 'K'; PAX 'g', 'x')
    max_header_chain: int = 4
    #: all extended headers of an archive together
    max_header_total_bytes: int = 256 * _MiB
    #: all member paths and link targets together (kept in memory while reading)
    max_names_bytes: int = 64 * _MiB
    #: all of ``info/`` decompressed (the recipe, tests and licences included)
    max_info_bytes: int = 256 * _MiB
    #: zstd's own default decoder limit (128 MiB), the most conda's decoder accepts too
    max_zstd_window_log: int = 27


DEFAULT_LIMITS = ExtractionLimits()

#: the info/ files read into memory, and how large each may be
_METADATA_LIMITS = {
    "info/index.json": _MiB,
    "info/about.json": 8 * _MiB,
    "info/run_exports.json": _MiB,
    "info/paths.json": 64 * _MiB,
    "info/files": 32 * _MiB,
    "info/has_prefix": 32 * _MiB,
    "info/no_link": 32 * _MiB,
    "info/icon.png": _MiB,
}
_OTHER_METADATA = 16 * _MiB


def metadata_limit(name: str) -> int:
    """How many bytes of the metadata member ``name`` may be read into memory."""
    return _METADATA_LIMITS.get(name, _OTHER_METADATA)


def check_paths_listing(data: bytes, members: int, reject: Callable[[str], Exception]) -> None:
    """paths.json lists at most the package's members: counted on the text, so that a
    small archive cannot make a reader build millions of entries from it."""
    listed = data.count(b'"_path"')
    if listed > members:
        raise reject(
            f"info/paths.json lists {listed} paths but the package has only {members} "
            "members (possible memory bomb)"
        )


# --- tar headers ------------------------------------------------------------------------

_EXTENDED = {
    tarfile.XHDTYPE: "PAX",
    tarfile.SOLARIS_XHDTYPE: "PAX",
    tarfile.XGLTYPE: "PAX global",
    tarfile.GNUTYPE_LONGNAME: "GNU long name",
    tarfile.GNUTYPE_LONGLINK: "GNU long link",
}


@dataclass
class HeaderBudget:
    """What the headers of one archive have cost so far; ``reject`` makes the error."""

    limits: ExtractionLimits
    reject: Callable[[str], InvalidPackageError]
    chain: int = 0
    header_bytes: int = 0
    global_bytes: int = 0
    names_bytes: int = 0
    members: int = 0

    def header(self, header: tarfile.TarInfo) -> None:
        """Called for every raw header, before tarfile reads what follows it."""
        kind = _EXTENDED.get(header.type)
        if kind is None:  # a member's own header: count it before tarfile keeps it
            self.chain = 0
            if header.type == tarfile.GNUTYPE_SPARSE:
                raise self.sparse()
            self.members += 1
            if self.members > self.limits.max_members:
                raise self.reject(
                    f"has more than {self.limits.max_members} members (possible decompression bomb)"
                )
            return
        limits = self.limits
        self.chain += 1
        if self.chain > limits.max_header_chain:
            raise self.reject(
                f"has more than {limits.max_header_chain} extended tar headers in front of "
                "one member (possible memory bomb)"
            )
        if header.size > limits.max_header_bytes:
            raise self.reject(
                f"has a {kind} tar header declaring {header.size} bytes, more than the limit "
                f"of {limits.max_header_bytes} bytes (possible memory bomb)"
            )
        self.header_bytes += header.size
        if self.header_bytes > limits.max_header_total_bytes:
            raise self.reject(
                f"has more than {limits.max_header_total_bytes} bytes of extended tar "
                "headers (possible memory bomb)"
            )
        if header.type == tarfile.XGLTYPE:  # its records stay for every later member
            self.global_bytes += header.size
            if self.global_bytes > limits.max_header_bytes:
                raise self.reject(
                    f"has more than {limits.max_header_bytes} bytes of PAX global headers "
                    "(possible memory bomb)"
                )

    def member(self, member: tarfile.TarInfo) -> None:
        """Called for every member tarfile returns: counts the names it keeps."""
        self.names_bytes += len(member.name) + len(member.linkname)
        if self.names_bytes > self.limits.max_names_bytes:
            raise self.reject(
                f"its member names add up to more than {self.limits.max_names_bytes} bytes "
                "(possible memory bomb)"
            )

    def sparse(self) -> InvalidPackageError:
        return self.reject("contains a GNU sparse file (packages never hold one)")


class _StrictTarInfo(tarfile.TarInfo):
    """tarfile silently ends iteration at a bad or cut-off header past the first member;
    we call that corruption instead. A clean end of data between members is tolerated."""

    @classmethod
    def fromtarfile(cls, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
        try:
            return super().fromtarfile(tarfile_)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError) as error:
            raise tarfile.ReadError(f"bad tar header: {error}") from None


def guarded_tarinfo(budget: HeaderBudget) -> type[tarfile.TarInfo]:
    """A TarInfo class that shows each raw header to ``budget`` before tarfile reads its
    payload; GNU sparse maps in PAX records (read without bound) are refused."""

    class GuardedTarInfo(_StrictTarInfo):
        def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:
            budget.header(self)
            return super()._proc_member(tarfile_)  # type: ignore[misc]

        def _proc_gnusparse_00(self, *_: Any) -> None:
            raise budget.sparse()

        _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00

    return GuardedTarInfo


def bounded_tarinfo(
    filename: str, limits: ExtractionLimits = DEFAULT_LIMITS
) -> type[tarfile.TarInfo]:
    """The ``tarinfo`` class for a reader that opens a tar itself (sdists, project
    archives): its headers and member count bounded as a conda package's are."""
    return guarded_tarinfo(HeaderBudget(limits, lambda rule: InvalidPackageError(filename, rule)))


def read_tar(
    stream: IO[bytes], budget: HeaderBudget, at_end: Callable[[tarfile.TarFile], None]
) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    """The members of the tar stream ``stream``, each header checked before it is read and
    no member kept once the next is asked for (a TarFile keeps them all by itself);
    ``at_end`` sees the TarFile after its end marker, before it is closed."""
    tarinfo = guarded_tarinfo(budget)
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=tarinfo) as tar:  # type: ignore[call-overload]
        while (member := tar.next()) is not None:
            tar.members.clear()
            budget.member(member)
            yield tar, member
        at_end(tar)


# --- zip (.conda) -------------------------------------------------------------------------

#: a .conda holds three entries; zipfile reads the whole central directory into memory
_MAX_ZIP_DIRECTORY_BYTES = 64 * _KiB
_EOCD = b"PK\x05\x06"


def check_zip_directory(path: Path, reject: Callable[[str], Exception]) -> None:
    """Refuse a zip whose central directory (read whole by :mod:`zipfile`, an object per
    entry) is larger than a conda package needs, from its end record, before zipfile reads
    it. A zip64 directory (entries or size saturated) is never needed either."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - (_KiB * 64 + 22)))
        tail = handle.read()
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        return  # not a zip: zipfile says so
    entries, directory_bytes = struct.unpack_from("<HI", tail, at + 10)
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        raise reject("is a zip64 archive; a .conda never needs one (possible memory bomb)")
    if directory_bytes > _MAX_ZIP_DIRECTORY_BYTES:
        raise reject(
            f"its zip directory is {directory_bytes} bytes for {entries} entries, more than "
            f"the limit of {_MAX_ZIP_DIRECTORY_BYTES} bytes (possible memory bomb)"
        )


# --- zstd ---------------------------------------------------------------------------------

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def zstd_window_size(frame_start: bytes) -> int | None:
    """The window a zstd frame asks its decoder to hold (RFC 8878, 3.1.1.1), from the first
    bytes of the frame; None when they are not a zstd frame header."""
    if len(frame_start) < 6 or not frame_start.startswith(_ZSTD_MAGIC):
        return None
    descriptor = frame_start[4]
    if not descriptor & 0x20:  # not single-segment: a window descriptor follows
        exponent, mantissa = frame_start[5] >> 3, frame_start[5] & 7
        base = 1 << (10 + exponent)
        return base + (base >> 3) * mantissa
    # single segment: the window is the frame's content size
    size_bytes = {0: 1, 1: 2, 2: 4, 3: 8}[descriptor >> 6]
    dictionary_bytes = {0: 0, 1: 1, 2: 2, 3: 4}[descriptor & 3]
    start = 5 + dictionary_bytes
    field_ = frame_start[start : start + size_bytes]
    if len(field_) < size_bytes:
        return None
    size = int.from_bytes(field_, "little")
    return size + 256 if size_bytes == 2 else size


@contextlib.contextmanager
def open_zstd(
    open_raw: Callable[[], IO[bytes]], limits: ExtractionLimits, reject: Callable[[str], Any]
) -> Iterator[IO[bytes]]:
    """A decompressing reader over ``open_raw()``, refusing a first frame whose window is
    over the limit with a clear reason (later frames meet the decoder's own limit)."""
    limit = 1 << limits.max_zstd_window_log
    with open_raw() as raw:
        window = zstd_window_size(raw.read(18))
    if window is not None and window > limit:
        raise reject(
            f"its zstd data needs a {window}-byte window, more than the limit of {limit} bytes "
            "(possible memory bomb)"
        )
    options = {zstd.DecompressionParameter.window_log_max: limits.max_zstd_window_log}
    with open_raw() as raw, zstd.open(raw, options=options) as stream:
        yield stream
