"""Python distributions (wheels and sdists): what they say about themselves, read safely.

Only the metadata member is read (``*.dist-info/METADATA`` or ``PKG-INFO``), with a size cap;
nothing is extracted. Names and versions are checked against the file name with
``packaging``'s rules.
"""

from __future__ import annotations

import tarfile
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from ophis.core.archive_limits import bounded_tarinfo
from ophis.core.errors import InvalidPackageError

MAX_METADATA_BYTES = 4 * 1024 * 1024
SDIST_SUFFIXES = (".tar.gz", ".zip")
_REBUILD = "Rebuild the distribution (python -m build) and upload it again."


@dataclass(frozen=True)
class PythonDistribution:
    filename: str
    name: str
    version: str
    #: bdist_wheel | sdist
    packagetype: str
    summary: str
    requires_python: str | None
    requires_dist: tuple[str, ...]
    metadata_bytes: bytes

    @property
    def canonical_name(self) -> str:
        return canonicalize_name(self.name)


def is_python_distribution(filename: str) -> bool:
    return filename.endswith(".whl") or filename.endswith(SDIST_SUFFIXES)


def read_python_distribution(path: Path) -> PythonDistribution:
    filename = path.name
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
            metadata, packagetype = _wheel_metadata(path, filename), "bdist_wheel"
        elif filename.endswith(SDIST_SUFFIXES):
            name, version = parse_sdist_filename(filename)
            metadata, packagetype = _sdist_metadata(path, filename), "sdist"
        else:
            raise InvalidPackageError(filename, "is not a wheel or an sdist", _REBUILD)
    except (InvalidWheelFilename, InvalidSdistFilename) as error:
        raise InvalidPackageError(
            filename, f"has an invalid file name: {error}", _REBUILD
        ) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as error:
        raise InvalidPackageError(
            filename, f"is not a readable archive: {error}", _REBUILD
        ) from None
    headers = HeaderParser().parsestr(metadata.decode("utf-8", "replace"))
    said_name, said_version = headers.get("Name", ""), headers.get("Version", "")
    if canonicalize_name(said_name) != name:
        raise InvalidPackageError(
            filename, f"its metadata names '{said_name}', the file name '{name}'", _REBUILD
        )
    if said_version != str(version) and said_version != filename_version(filename):
        raise InvalidPackageError(
            filename,
            f"its metadata says version '{said_version}', the file name '{version}'",
            _REBUILD,
        )
    return PythonDistribution(
        filename=filename,
        name=said_name,
        version=said_version,
        packagetype=packagetype,
        summary=headers.get("Summary", "") or "",
        requires_python=headers.get("Requires-Python"),
        requires_dist=tuple(headers.get_all("Requires-Dist") or ()),
        metadata_bytes=metadata,
    )


def filename_version(filename: str) -> str:
    """The version as spelled in the file name (``demo_py-1.0.tar.gz`` -> ``1.0``)."""
    stem = filename.removesuffix(".whl")
    for suffix in SDIST_SUFFIXES:
        stem = stem.removesuffix(suffix)
    parts = stem.split("-")
    return parts[1] if len(parts) > 1 else ""


def _capped(data: bytes | None, filename: str, member: str) -> bytes:
    if data is None:
        raise InvalidPackageError(filename, f"has no {member}", _REBUILD)
    return data


def _wheel_metadata(path: Path, filename: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        candidates = [
            info
            for info in archive.infolist()
            if info.filename.count("/") == 1 and info.filename.endswith(".dist-info/METADATA")
        ]
        if len(candidates) != 1:
            raise InvalidPackageError(filename, "has no single *.dist-info/METADATA", _REBUILD)
        _check_size(candidates[0].file_size, filename)
        return archive.read(candidates[0])


def _sdist_metadata(path: Path, filename: str) -> bytes:
    if filename.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            infos = [i for i in archive.infolist() if _is_top_pkg_info(i.filename)]
            if not infos:
                return _capped(None, filename, "PKG-INFO")
            _check_size(infos[0].file_size, filename)
            return archive.read(infos[0])
    with tarfile.open(path, "r:gz", tarinfo=bounded_tarinfo(filename)) as archive:
        for member in archive:
            if _is_top_pkg_info(member.name) and member.isreg():
                _check_size(member.size, filename)
                handle = archive.extractfile(member)
                return handle.read() if handle else b""
    return _capped(None, filename, "PKG-INFO")


def _is_top_pkg_info(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _check_size(size: int, filename: str) -> None:
    if size > MAX_METADATA_BYTES:
        raise InvalidPackageError(filename, f"has a metadata file of {size} bytes", _REBUILD)
