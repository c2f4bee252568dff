"""Writing a channel's files so that a reader never sees half of one.

Each file is written to a temporary name in its own directory, flushed, and renamed over
the old one: readers see the old file or the new one. Compressed twins are written before
the plain file, so a client that finds the new repodata.json also finds its new ``.zst``.
"""

from __future__ import annotations

import bz2
from pathlib import Path

import zstandard

from ophis.core.atomic_file import write_atomic

ZSTD_LEVEL = 10

__all__ = ["write_atomic", "write_with_twins"]


def write_with_twins(path: Path, data: bytes, *, zst: bool = False, bz2_twin: bool = False) -> None:
    """Write ``path`` and, if asked, ``path.zst`` / ``path.bz2`` with the same content."""
    if zst:
        write_atomic(path.with_name(path.name + ".zst"), zstandard.compress(data, ZSTD_LEVEL))
    if bz2_twin:
        write_atomic(path.with_name(path.name + ".bz2"), bz2.compress(data))
    write_atomic(path, data)
