"""The one way Ophis replaces a file: write a temporary sibling, then rename it over.

Readers see the old content or the new, never half of either; a crash leaves at most a
stray ``.<name>.*.tmp`` beside the file. Shared by every part that writes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_atomic(
    path: Path, data: bytes, mode: int | None = None, *, durable: bool = False
) -> None:
    """Replace ``path`` with ``data``. ``mode`` defaults to the old file's, else what the
    umask gives a new file (as ``open`` would: never looser than the user asked for);
    ``durable`` syncs the data to disk before the rename (for records a crash must not
    lose, such as an environment's history; channel files skip it for speed)."""
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temp_name, mode)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def file_version(path: str | os.PathLike[str]) -> tuple[int, ...]:
    """What tells one version of a file from another, for caches of what was read from it:
    a replacement (as :func:`write_atomic` makes) is a new inode, a rewrite in place a new
    size or modification time. Raises OSError when the file cannot be read."""
    stat = os.stat(path)
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux);
    else set and restored at once."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary sibling of ``path`` for a writer that wants a file name (a library that
    opens the file itself); renamed over ``path`` when the block ends, removed on error."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(temp_name)
        os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
