"""The one way Ophis takes an advisory lock on a file, between processes of this host.

``flock`` on a descriptor of the lock file: the kernel releases it when the descriptor is
closed, also when the holder is killed, so a crash never leaves a lock behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no locking between processes
    fcntl = None  # type: ignore[assignment]


@contextmanager
def file_lock(path: Path, *, mode: int = 0o600, wait: bool = True) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` (created with ``mode`` if missing) for the block.

    Yields whether it is held: with ``wait=False`` another holder makes it ``False`` at once
    instead of waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - Windows
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
