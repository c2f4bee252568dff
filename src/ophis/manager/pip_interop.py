"""Python packages in an environment that conda did not install (pip, ``setup.py develop``).

conda lists them beside its own records (``conda/plugins/prefix_data_loaders/pypi``): each
``*.dist-info`` or ``*.egg-info`` in the environment's site-packages that no ``conda-meta``
record owns becomes a package named as pip normalizes it (lower case, ``.`` and ``_`` as
``-``), with build ``pypi_0``, build number 0, channel and subdir ``pypi``; an ``.egg-link``
(an editable install) gets channel ``<develop>`` and build ``dev_0``. ``env export`` writes
the ``pypi_0`` ones under ``pip:`` as ``name==version``.

The metadata is read with :mod:`importlib.metadata`, which parses both layouts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ophis.core.lazy import LazyModule

if TYPE_CHECKING:
    import rattler
else:  # py-rattler is imported when first used
    rattler = LazyModule("rattler")


PYPI_CHANNEL = "pypi"
PYPI_BASE_URL = "https://conda.anaconda.org/pypi"
_ANCHORS = re.compile(r"[^/]+\.(dist-info|egg-info)$")


@dataclass(frozen=True)
class PipPackage:
    """A package pip (or another Python installer) put into the environment."""

    name: str
    version: str
    build: str = "pypi_0"
    channel: str = PYPI_CHANNEL

    @property
    def dist_name(self) -> str:
        return f"{self.name}-{self.version}-{self.build}"

    def to_record(self) -> rattler.PackageRecord:
        """As a record, so that match specs can test it (``compare``)."""
        return rattler.PackageRecord(
            name=self.name,
            version=self.version,
            build=rattler.BuildString(self.build),
            build_number=0,
            subdir="pypi",
        )

    def dist_fields(self) -> dict[str, object]:
        """conda's ``list --json`` entry for it."""
        return {
            "base_url": PYPI_BASE_URL if self.channel == PYPI_CHANNEL else self.channel,
            "build_number": 0,
            "build_string": self.build,
            "channel": self.channel,
            "dist_name": self.dist_name,
            "name": self.name,
            "platform": "pypi",
            "version": self.version,
        }


def normalized_name(name: str) -> str:
    """conda's ``norm_package_name``."""
    return name.replace(".", "-").replace("_", "-").lower()


def pip_packages(prefix: Path, records: Iterable[rattler.PrefixRecord]) -> list[PipPackage]:
    """The packages in ``prefix``'s site-packages that no conda record owns, by name."""
    records = list(records)
    python = next((r for r in records if r.name.normalized == "python"), None)
    if python is None:
        return []
    site_packages = _site_packages(prefix, python)
    if not site_packages.is_dir():
        return []
    relative = site_packages.relative_to(prefix).as_posix()
    owned = {
        str(path).split("/")[len(relative.split("/"))]
        for record in records
        for path in map(str, record.files)
        if path.startswith(relative + "/") and path.count("/") > relative.count("/") + 1
    }
    found = [
        package
        for entry in sorted(site_packages.iterdir())
        if entry.name not in owned
        for package in [_read(entry)]
        if package is not None
    ]
    found += _editable_links(site_packages)
    unique = {p.name: p for p in found}
    return [unique[name] for name in sorted(unique)]


def _site_packages(prefix: Path, python: rattler.PrefixRecord) -> Path:
    major_minor = ".".join(str(python.version).split(".")[:2])
    return prefix / "lib" / f"python{major_minor}" / "site-packages"


def _read(entry: Path) -> PipPackage | None:
    if not _ANCHORS.fullmatch(entry.name):
        return None
    from importlib.metadata import PathDistribution  # here: most environments have no pip

    distribution = PathDistribution(entry)
    name, version = distribution.metadata["Name"], distribution.version
    if not name or not version:
        return None  # a broken or partial install: conda skips it too
    return PipPackage(normalized_name(name), version)


def _editable_links(site_packages: Path) -> list[PipPackage]:
    """``setup.py develop`` installs: ``NAME.egg-link`` pointing at a source tree."""
    from importlib.metadata import PathDistribution

    packages = []
    for link in sorted(site_packages.glob("*.egg-link")):
        name = normalized_name(link.name.removesuffix(".egg-link"))
        target = Path(_first_line(link) or ".")
        info = next(iter(sorted(target.glob("*.egg-info"))), None) if target.is_dir() else None
        version = PathDistribution(info).version if info else None
        if version:
            packages.append(PipPackage(name, version, build="dev_0", channel="<develop>"))
    return packages


def _first_line(path: Path) -> str:
    """The first line of a small text file; an egg-link is one path, so only its first
    4 KiB are read (a huge or binary file planted in site-packages costs nothing)."""
    with path.open("rb") as handle:
        head = handle.read(4096)
    lines = head.decode(errors="replace").splitlines()
    return lines[0].strip() if lines else ""
