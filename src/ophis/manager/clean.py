"""``ophis clean``: free the package caches, as ``conda clean`` does.

* index cache: ``<pkgs_dir>/cache`` (fetched repodata and shards);
* tarballs: the ``.conda`` / ``.tar.bz2`` archives in each package cache;
* packages: extracted packages that no environment uses — conda's test, which is that
  none of their files has another hard link (``st_nlink > 1``); packages copied or
  soft-linked into environments cannot be told apart this way, as with conda;
* tempfiles: interrupted downloads (``*.partial``) and temporary files (``*.tmp``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ARCHIVE_SUFFIXES = (".conda", ".tar.bz2")
TEMP_SUFFIXES = (".partial", ".tmp")
KINDS = ("index_cache", "tarballs", "packages", "tempfiles", "logfiles")


@dataclass
class CleanTarget:
    """What one kind of cleaning would remove."""

    paths: list[Path] = field(default_factory=list)
    total_size: int = 0

    def add(self, path: Path, size: int) -> None:
        self.paths.append(path)
        self.total_size += size

    def to_json(self, kind: str) -> object:
        """conda's ``clean --json`` entry for ``kind``: per package cache for tarballs and
        packages, a ``files`` list for the index cache, a bare list for temp and log files."""
        if kind in ("tarballs", "packages"):
            sizes: dict[str, dict[str, int]] = {}
            for path in self.paths:
                sizes.setdefault(str(path.parent), {})[path.name] = _size(path)
            return {
                "warnings": [],
                "pkg_sizes": sizes,
                "pkgs_dirs": {d: list(names) for d, names in sizes.items()},
                "total_size": self.total_size,
            }
        files = [str(p) for p in self.paths]
        return {"files": files} if kind == "index_cache" else files


def plan_clean(pkgs_dirs: Sequence[Path], kinds: Iterable[str]) -> dict[str, CleanTarget]:
    finders = {
        "index_cache": _index_caches,
        "tarballs": _tarballs,
        "packages": _unused_packages,
        "tempfiles": _tempfiles,
        "logfiles": _logfiles,
    }
    plan: dict[str, CleanTarget] = {}
    for kind in kinds:
        target = CleanTarget()
        for pkgs_dir in pkgs_dirs:
            if Path(pkgs_dir).is_dir():
                for path in finders[kind](Path(pkgs_dir)):
                    target.add(path, _size(path))
        plan[kind] = target
    return plan


def execute_clean(plan: dict[str, CleanTarget]) -> None:
    for target in plan.values():
        for path in target.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _index_caches(pkgs_dir: Path) -> list[Path]:
    cache = pkgs_dir / "cache"
    return [cache] if cache.is_dir() else []


def _tarballs(pkgs_dir: Path) -> list[Path]:
    return sorted(
        p for p in pkgs_dir.iterdir() if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES)
    )


def _tempfiles(pkgs_dir: Path) -> list[Path]:
    return sorted(p for p in pkgs_dir.iterdir() if p.is_file() and p.name.endswith(TEMP_SUFFIXES))


def _logfiles(pkgs_dir: Path) -> list[Path]:
    """conda's transaction logs: ``<pkgs_dir>/.logs``."""
    logs = pkgs_dir / ".logs"
    return sorted(p for p in logs.iterdir() if p.is_file()) if logs.is_dir() else []


def _unused_packages(pkgs_dir: Path) -> list[Path]:
    extracted = (p for p in pkgs_dir.iterdir() if (p / "info" / "index.json").is_file())
    return sorted(p for p in extracted if not _linked_anywhere(p))


def _linked_anywhere(package_dir: Path) -> bool:
    for root, _dirs, files in os.walk(package_dir):
        if root == str(package_dir / "info"):
            continue
        for name in files:
            try:
                if os.lstat(os.path.join(root, name)).st_nlink > 1:
                    return True
            except OSError:
                continue
    return False


def _size(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
