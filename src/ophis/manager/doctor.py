"""``ophis doctor``: is an environment whole? Every file its records list is checked against
``conda-meta`` (present; same SHA-256 as when it was linked), and an interrupted
transaction's journal is reported. Repairs (``--fix``) are made by the caller: recovering the
transaction, then reinstalling the damaged packages from the cache.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path

import rattler

from ophis.core.paths import unsafe_path_reason
from ophis.manager.link_guard import contained
from ophis.manager.prefix import PrefixData
from ophis.manager.records import base_url
from ophis.manager.transaction import JOURNAL


@dataclass
class PackageHealth:
    name: str
    version: str
    build: str
    #: the channel the package was installed from
    channel: str
    missing: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not (self.missing or self.modified)

    @property
    def pin(self) -> str:
        """The spec that reinstalls exactly this package."""
        return f"{self.name}={self.version}={self.build}"


@dataclass
class DoctorReport:
    prefix: Path
    interrupted_transaction: bool
    damaged: list[PackageHealth]
    checked_packages: int
    checked_files: int
    warnings: list[str]

    @property
    def healthy(self) -> bool:
        return not (self.interrupted_transaction or self.damaged or self.warnings)

    def to_json(self) -> dict[str, object]:
        return {
            "prefix": str(self.prefix),
            "healthy": self.healthy,
            "interrupted_transaction": self.interrupted_transaction,
            "checked_packages": self.checked_packages,
            "checked_files": self.checked_files,
            "missing_files": {p.name: p.missing for p in self.damaged if p.missing},
            "altered_files": {p.name: p.modified for p in self.damaged if p.modified},
            "warnings": self.warnings,
        }


def diagnose(prefix: Path) -> DoctorReport:
    data = PrefixData(prefix)
    records = data.records()
    damaged: list[PackageHealth] = []
    files = 0
    warnings = list(data.warnings)
    for name, record in sorted(records.items()):
        outside = _outside(prefix, record)
        warnings += [
            f"{name} lists '{path}', which leads outside the environment; it was not "
            "checked. Remove the package, and do not install it again."
            for path in sorted(outside)
        ]
        health = _check_record(prefix, name, record, skip=outside)
        files += len(record.paths_data.paths)
        if not health.healthy:
            damaged.append(health)
    return DoctorReport(
        prefix=prefix,
        interrupted_transaction=(prefix / JOURNAL).exists(),
        damaged=damaged,
        checked_packages=len(records),
        checked_files=files,
        warnings=warnings,
    )


def _outside(prefix: Path, record: rattler.PrefixRecord) -> set[str]:
    """Record entries that lead outside the environment: never read, fixed or removed."""
    paths = (str(entry.relative_path) for entry in record.paths_data.paths)
    return {path for path in paths if not contained(prefix, path)}


def _check_record(
    prefix: Path, name: str, record: rattler.PrefixRecord, skip: AbstractSet[str] = frozenset()
) -> PackageHealth:
    health = PackageHealth(name, str(record.version), record.build, base_url(record))
    for entry in record.paths_data.paths:
        if str(entry.relative_path) in skip:
            continue
        path = prefix / entry.relative_path
        if not path.is_symlink() and not path.exists():
            health.missing.append(str(entry.relative_path))
        elif _altered(path, entry):
            health.modified.append(str(entry.relative_path))
    return health


def _altered(path: Path, entry: rattler.PrefixPathsEntry) -> bool:
    """A regular file whose content differs from what was linked. ``sha256_in_prefix`` is
    the hash after prefix replacement; files without it and without a placeholder must
    match the package's own hash."""
    if path.is_symlink() or not path.is_file():
        return False
    expected = entry.sha256_in_prefix or (None if entry.prefix_placeholder else entry.sha256)
    if expected is None:
        return False
    if not entry.prefix_placeholder and entry.size_in_bytes not in (None, path.stat().st_size):
        return True  # cheaper than hashing
    return _sha256(path) != bytes(expected).hex()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def forget_extracted(pkgs_dirs: Sequence[Path], damaged: Sequence[PackageHealth]) -> None:
    """Drop the cached, extracted copies of damaged packages. Environments hard-link files
    from the cache, so a file edited in an environment is edited in the cache too; without
    this a reinstall would link the same damaged file again. The next install re-extracts
    the archive (checked against its sha256) or downloads it again."""
    for package in damaged:
        stem = f"{package.name}-{package.version}-{package.build}"
        if unsafe_path_reason(stem) is not None or "/" in stem:
            continue
        for pkgs_dir in pkgs_dirs:
            shutil.rmtree(Path(pkgs_dir) / stem, ignore_errors=True)
            (Path(pkgs_dir) / f"{stem}.lock").unlink(missing_ok=True)
