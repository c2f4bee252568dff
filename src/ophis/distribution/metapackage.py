"""``ophis metapackage``: a package with no files whose dependencies pin a tested set, as the
``anaconda`` metapackage does.

From an environment, each installed package becomes ``name ==version build`` (exact: the
metapackage is of the environment's platform); ``--loose`` keeps only the names (the
``anaconda=custom`` style, noarch). From specs, the specs are the dependencies as given.
The package is written into a channel folder, which is then indexed as ``ophis index``
does, so ``-c file://FOLDER`` installs it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rattler

from ophis.core.errors import OphisError
from ophis.core.package_create import create_package
from ophis.core.platform import platform_os, subdir_machine
from ophis.indexer.channel_index import index_channel
from ophis.manager.prefix import PrefixData


class MetapackageError(OphisError):
    exception_name = "MetapackageError"


@dataclass(frozen=True)
class MetapackageOptions:
    name: str
    version: str
    output_dir: Path
    build_number: int = 0
    summary: str = ""
    loose: bool = False


@dataclass(frozen=True)
class MetapackageReport:
    path: Path
    name: str
    version: str
    build: str
    subdir: str
    depends: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.name,
            "version": self.version,
            "build": self.build,
            "subdir": self.subdir,
            "depends": list(self.depends),
        }


def pins_of_prefix(prefix: Path, *, loose: bool) -> tuple[list[str], str]:
    """The dependencies that pin ``prefix``'s packages, and the metapackage's subdir."""
    data = PrefixData(prefix)
    if not data.is_environment():
        raise MetapackageError(
            f"Not a conda environment: {prefix}",
            "Name an existing environment with -n NAME or -p PATH (see 'ophis env list').",
        )
    records = list(data.records().values())
    if not records:
        raise MetapackageError(
            f"The environment {prefix} has no packages.", "Install packages into it first."
        )
    if loose:
        return [r.name.normalized for r in records], "noarch"
    subdirs = {r.subdir for r in records} - {"noarch"}
    if len(subdirs) > 1:
        raise MetapackageError(
            f"The environment {prefix} mixes platforms: {', '.join(sorted(subdirs))}.",
            "Use --loose, or build the metapackage from an environment of one platform.",
        )
    subdir = subdirs.pop() if subdirs else "noarch"
    return [f"{r.name.normalized} =={r.version} {r.build}" for r in records], subdir


def check_specs(specs: Sequence[str]) -> list[str]:
    checked = []
    for spec in specs:
        try:
            rattler.MatchSpec(spec, strict=True)
        except Exception as error:  # py-rattler raises its own parse errors
            raise MetapackageError(
                f"{spec!r} is not a valid package spec: {error}",
                "Write specs as 'name', 'name >=1.2' or 'name ==1.2.3 build'.",
            ) from None
        checked.append(spec)
    if not checked:
        raise MetapackageError(
            "A metapackage needs dependencies.",
            "Give --from-env ENV, -n ENV, -p PREFIX or a list of specs.",
        )
    return checked


def build_metapackage(
    options: MetapackageOptions, depends: Sequence[str], subdir: str
) -> MetapackageReport:
    """Write the metapackage into ``options.output_dir/<subdir>`` and index the folder."""
    checked = check_specs(depends)
    # the same name and version with other pins is another build, not a clash
    digest = hashlib.sha256("\n".join(checked).encode()).hexdigest()[:8]
    build = f"h{digest}_{options.build_number}"
    index: dict[str, Any] = {
        "name": options.name,
        "version": options.version,
        "build": build,
        "build_number": options.build_number,
        "depends": checked,
        "subdir": subdir,
        "timestamp": int(time.time() * 1000),
    }
    if subdir == "noarch":
        index["noarch"] = "generic"
    else:
        index["platform"], index["arch"] = platform_os(subdir), subdir_machine(subdir)
    about = {"summary": options.summary} if options.summary else {}
    try:
        path = create_package(options.output_dir / subdir, index=index, about=about)
    except ValueError as error:
        raise MetapackageError(
            f"Cannot name a package {options.name!r} {options.version!r}: {error}",
            "Use a name and a version without '-' or spaces.",
        ) from None
    index_channel(options.output_dir)
    return MetapackageReport(path, options.name, options.version, build, subdir, tuple(checked))
