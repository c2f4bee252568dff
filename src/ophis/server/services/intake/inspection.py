"""Inspection, the first step of every file's way in: the file is checked and its metadata
read before anything is stored (conda archives by :mod:`ophis.core.package_file`, wheels and
sdists by :mod:`ophis.core.python_dist`, project archives by :mod:`ophis.core.project_archive`).
The server trusts the archive, not what the client says about it. Nothing here touches the
database or the storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ophis.core import project_archive
from ophis.core.channeldata import package_facts
from ophis.core.distribution_types import DistributionType
from ophis.core.errors import InvalidPackageError
from ophis.core.model_files import model_format, read_model_file
from ophis.core.package_file import file_digests, read_package, split_package_filename
from ophis.core.paths import check_relative_path
from ophis.core.platform import parse_subdir
from ophis.core.python_dist import is_python_distribution, read_python_distribution
from ophis.server.errors import BadRequest
from ophis.server.services.catalog.files import Inspected

#: an icon larger than this is ignored (conda-build's are a few KiB)
ICON_MAX_BYTES = 256 * 1024
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: what an uploader may say about a model file (the stage's ``attrs``); the rest is read
#: from the file
MODEL_DECLARED = ("task", "license")


def inspect_file(
    path: Path,
    distribution_type: str,
    name: str = "",
    version: str = "",
    declared: Mapping[str, Any] | None = None,
) -> Inspected:
    """Check a file and read its metadata; raises InvalidPackageError (nothing is stored).
    A generic file has none: it is the release ``name``/``version`` it was uploaded to; a
    model file (by its suffix, whichever way it came) has its header checked and read, with
    what the uploader ``declared`` about it (MODEL_DECLARED)."""
    if distribution_type == DistributionType.MODEL:
        basename = model_basename(name, version, path.name)
        return _inspect_model(path, basename, name, version, declared or {})
    if distribution_type == DistributionType.GENERIC and model_format(path.name):
        return _inspect_model(path, path.name, name, version, declared or {})
    if distribution_type == DistributionType.GENERIC:
        return _inspect_generic(path, name, version)
    if distribution_type == DistributionType.CONDA:
        return _inspect_conda(path)
    if distribution_type == DistributionType.PYPI:
        return _inspect_python(path)
    if distribution_type == DistributionType.PROJECT:
        return _inspect_project(path)
    raise BadRequest(
        f"Distribution type {distribution_type!r} is not accepted.",
        "Upload conda packages (.conda, .tar.bz2), wheels or sdists.",
    )


def _inspect_conda(path: Path) -> Inspected:
    split_package_filename(path.name)  # refuses what is not a conda file name
    contents = read_package(path)
    index = contents.index
    subdir = index.get("subdir") or ("noarch" if not index.get("arch") else None)
    if not isinstance(subdir, str):
        raise InvalidPackageError(path.name, "info/index.json has no 'subdir'")
    parse_subdir(subdir)
    record = contents.repodata_record()
    record.setdefault("subdir", subdir)
    facts = package_facts(index["name"], contents.about, contents.paths, contents.run_exports)
    return Inspected(
        distribution_type=DistributionType.CONDA,
        name=index["name"],
        version=index["version"],
        basename=f"{subdir}/{path.name}",
        filename=path.name,
        subdir=subdir,
        size=contents.size,
        md5=contents.md5,
        sha256=contents.sha256,
        record=record,
        facts=facts,
        summary=str(contents.about.get("summary") or ""),
        attrs={k: v for k, v in index.items() if k not in ("name", "version")},
        icon=usable_icon(contents.icon),
    )


def usable_icon(data: bytes | None) -> bytes | None:
    """The icon when it is small and really a PNG: the web site serves it as image/png, so
    anything else (an HTML file named icon.png) is dropped rather than refused, as the
    package itself is fine."""
    if data is None or len(data) > ICON_MAX_BYTES or not data.startswith(_PNG_SIGNATURE):
        return None
    return data


def _inspect_project(path: Path) -> Inspected:
    if not project_archive.is_project_archive(path.name):
        suffix = project_archive.SUFFIX
        raise InvalidPackageError(path.name, f"is not a project archive (*{suffix})")
    facts = project_archive.read_facts(path.read_bytes(), path.name)
    expected = project_archive.archive_name(facts.name, facts.version)
    if path.name != expected:
        raise InvalidPackageError(path.name, f"its manifest says it is {expected}")
    return _outside_subdirs(
        path, DistributionType.PROJECT, facts.name, facts.version, summary=facts.summary
    )


def _inspect_generic(path: Path, name: str, version: str) -> Inspected:
    check_relative_path(path.name, "file name", path.name)
    return _outside_subdirs(path, DistributionType.GENERIC, name, version)


def model_basename(name: str, version: str, filename: str) -> str:
    """A model variant's basename: its file name within its release (an owner's models all
    have files named ``model.safetensors``, and each version has the same names again)."""
    return f"{name}/{version}/{filename}"


def _inspect_model(
    path: Path, basename: str, name: str, version: str, declared: Mapping[str, Any]
) -> Inspected:
    check_relative_path(path.name, "file name", path.name)
    task, license_ = (str(declared.get(key) or "") for key in MODEL_DECLARED)
    with path.open("rb") as stream:
        facts = read_model_file(stream, path.stat().st_size, path.name, declared_task=task)
    card = facts.card()
    card["license"] = card["license"] or license_[:200]
    return _outside_subdirs(
        path, DistributionType.MODEL, name, version, basename=basename, attrs=card
    )


def _inspect_python(path: Path) -> Inspected:
    if not is_python_distribution(path.name):
        raise InvalidPackageError(path.name, "is not a wheel (.whl) or an sdist (.tar.gz, .zip)")
    dist = read_python_distribution(path)
    return _outside_subdirs(
        path,
        DistributionType.PYPI,
        dist.name,
        dist.version,
        summary=dist.summary,
        attrs={
            "packagetype": dist.packagetype,
            "requires_python": dist.requires_python,
            "requires_dist": list(dist.requires_dist),
        },
    )


def _outside_subdirs(
    path: Path,
    kind: DistributionType,
    name: str,
    version: str,
    basename: str | None = None,
    **facts: Any,
) -> Inspected:
    """What every file outside a conda subdir is: its digests, stored under its own name
    (or ``basename``), with the ``facts`` its kind reads (summary, attrs)."""
    size, md5, sha256 = file_digests(path)
    return Inspected(
        distribution_type=kind,
        name=name,
        version=version,
        basename=basename or path.name,
        filename=path.name,
        subdir=None,
        size=size,
        md5=md5,
        sha256=sha256,
        **facts,
    )
