"""Conda packages made from Python distributions installed in this interpreter's environment,
for tests that must install real libraries (FastAPI, uvicorn, ...) offline.

Each distribution's files under site-packages (as its RECORD lists them) become a package
named as conda-forge names it (lower case, ``_`` -> ``-``), depending on ``python`` and on
the packages of its unconditional requirements (by name: the versions installed
here are the set known to work together). A pure-Python distribution becomes a
``noarch: python`` package (its files under ``site-packages/``, which the installer puts in
the environment's site-packages); one with compiled modules becomes a package of this
platform pinned to this Python's minor version. Together with the ``python`` package of
:mod:`ophis.testing.build_channels` (this interpreter), they import exactly as installed here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

from ophis.core.package_create import create_package
from ophis.testing.packages import make_index

PY_SHORT = "{}.{}".format(*sys.version_info[:2])
_COMPILED = (".so", ".pyd", ".dylib")


def conda_name(distribution: str) -> str:
    return distribution.lower().replace("_", "-").replace(".", "-")


def requirement_closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` need, themselves included, each once."""
    environment = default_environment()
    seen: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = conda_name(pending.pop())
        if name in seen:
            continue
        distribution = metadata.distribution(name)
        seen[name] = distribution
        for requirement in _requirements(distribution, environment):
            pending.append(requirement.name)
    return list(seen.values())


def _requirements(distribution: metadata.Distribution, environment: dict) -> list[Requirement]:
    wanted = []
    for text in distribution.requires or []:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or marker.evaluate({**environment, "extra": ""}):
            wanted.append(requirement)
    return wanted


def make_venv_packages(
    names: Iterable[str], channel: Path, subdir: str, compression_level: int = 3
) -> list[Path]:
    """Write a package for each distribution ``names`` needs into ``channel`` (not indexed).
    Light compression by default: at conda-build's zstd level 19, compiled modules such as
    py-rattler's take minutes on a small machine."""
    environment = default_environment()
    return [
        _package(distribution, environment, channel, subdir, compression_level)
        for distribution in requirement_closure(names)
    ]


def _package(
    distribution: metadata.Distribution,
    environment: dict,
    channel: Path,
    subdir: str,
    level: int,
) -> Path:
    site = Path(str(distribution.locate_file(""))).resolve()
    files: dict[str, bytes] = {}
    for entry in distribution.files or []:
        path = Path(str(distribution.locate_file(entry))).resolve()
        if not path.is_file() or "__pycache__" in path.parts or not path.is_relative_to(site):
            continue  # scripts in bin/ and caches stay behind: modules are what tests import
        files[path.relative_to(site).as_posix()] = path.read_bytes()
    compiled = any(name.endswith(_COMPILED) for name in files)
    depends = [f"python {PY_SHORT}.*" if compiled else "python"]
    # names only: what is installed here is the set that works, whatever its metadata says
    depends += [conda_name(r.name) for r in _requirements(distribution, environment)]
    name, version = conda_name(distribution.metadata["Name"]), distribution.version
    if compiled:
        index = make_index(name, version, "0", subdir=subdir, depends=depends)
        payload = {f"lib/python{PY_SHORT}/site-packages/{k}": v for k, v in files.items()}
        return create_package(channel / subdir, index=index, files=payload, compression_level=level)
    index = make_index(name, version, "0", subdir="noarch", depends=depends, noarch="python")
    payload = {f"site-packages/{k}": v for k, v in files.items()}
    return create_package(channel / "noarch", index=index, files=payload, compression_level=level)
