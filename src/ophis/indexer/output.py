"""Writing a channel's files so that a reader never sees half of one.

Each file is written to a temporary name in its own directory, flushed, and renamed over
the old one: readers see the old file or the new one. Compressed twins are written before
the plain file, so a client that finds the new repodata.json also finds its new ``.zst``.
"""

from __future__ import annotations

import bz2
import os
import tempfile
from pathlib import Path

import zstandard

ZSTD_LEVEL = 10


def write_atomic(path: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def write_with_twins(path: Path, data: bytes, *, zst: bool = False, bz2_twin: bool = False) -> None:
    """Write ``path`` and, if asked, ``path.zst`` / ``path.bz2`` with the same content."""
    if zst:
        write_atomic(path.with_name(path.name + ".zst"), zstandard.compress(data, ZSTD_LEVEL))
    if bz2_twin:
        write_atomic(path.with_name(path.name + ".bz2"), bz2.compress(data))
    write_atomic(path, data)
