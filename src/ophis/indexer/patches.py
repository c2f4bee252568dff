"""Where a channel's repodata hotfixes come from.

Two sources, as in conda-index: a ``patch_instructions.json`` beside a subdir's packages,
or a repodata-patches package (``<subdir>/patch_instructions.json`` members, the way
conda-forge ships them). The package is the one named by ``--patch-package`` (a file, or a
package name in the channel's noarch), else ``<channel>-repodata-patches`` if the channel
has it. A package's instructions win over a subdir's file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conda_package_streaming.package_streaming import stream_conda_component
from rattler import Version

from ophis.core import index_json
from ophis.core.errors import ChannelIndexError
from ophis.core.package_file import read_package

if TYPE_CHECKING:
    from ophis.indexer.cache import CachedPackage

#: conda-forge's largest subdir's instructions are a few tens of MiB
_MAX_INSTRUCTIONS_BYTES = 512 * 1024**2
_MEMBER = re.compile(r"^(?:\./)?([^/]+)/patch_instructions\.json$")


@dataclass(frozen=True)
class PatchSource:
    description: str
    by_subdir: dict[str, dict[str, Any]] = field(default_factory=dict)

    def instructions(self, subdir: str) -> dict[str, Any] | None:
        return self.by_subdir.get(subdir)


def find_patch_source(
    root: Path, noarch: Mapping[str, CachedPackage], wanted: str | None, channel_name: str | None
) -> PatchSource | None:
    """The patches of the channel at ``root``: the package ``wanted`` (a path, or a name in
    noarch), else the newest ``<channel_name>-repodata-patches`` in noarch, if any."""
    path = _patch_package_path(root, noarch, wanted, channel_name)
    if path is None:
        return None
    shown = path.relative_to(root) if path.is_relative_to(root) else path
    return PatchSource(description=str(shown), by_subdir=read_patch_package(path))


def _patch_package_path(
    root: Path, noarch: Mapping[str, CachedPackage], wanted: str | None, channel_name: str | None
) -> Path | None:
    if wanted and Path(wanted).expanduser().is_file():
        return Path(wanted).expanduser().resolve()
    name = wanted or f"{channel_name or root.name}-repodata-patches"
    matches = [p for p in noarch.values() if p.record["name"] == name]
    if not matches:
        if wanted:
            raise ChannelIndexError(
                f"No repodata-patches package '{wanted}' was found.",
                "Give the path of a patches package, or the name of one in the channel's "
                "noarch/ folder.",
            )
        return None
    newest = max(matches, key=lambda p: (Version(p.record["version"]), p.record["build_number"]))
    return root / "noarch" / newest.filename


def read_patch_package(path: Path) -> dict[str, dict[str, Any]]:
    """``{subdir: instructions}`` from a repodata-patches package (validated first)."""
    read_package(path)
    found: dict[str, dict[str, Any]] = {}
    with path.open("rb") as handle:
        for tar, member in stream_conda_component(path.name, handle, component="pkg"):
            match = _MEMBER.match(member.name)
            if not match or not member.isfile():
                continue
            if member.size > _MAX_INSTRUCTIONS_BYTES:  # checked before it is read
                raise ChannelIndexError(
                    f"{path.name}: {member.name} is {member.size} bytes, more than the limit "
                    f"of {_MAX_INSTRUCTIONS_BYTES} bytes",
                    "Rebuild the repodata-patches package.",
                )
            extracted = tar.extractfile(member)
            try:
                data = extracted.read() if extracted else b""
                found[match.group(1)] = index_json.loads(data, member.name)
            except ValueError as error:
                raise ChannelIndexError(
                    f"{path.name}: {error}", "Rebuild the repodata-patches package."
                ) from error
    return found
