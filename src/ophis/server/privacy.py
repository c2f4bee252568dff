"""The server's data directory is its own: the directory is 0700 and what the server writes
in it (database, package blobs, staged uploads, caches, secrets) is 0600, whatever the umask.

:func:`secure_data_dir` creates the directory so, and tightens an existing one that others
could read (saying so in the log), with the files whose names the server knows. Writers use
:func:`private_file` and :func:`private_dir` for what they create.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger("ophis.server")
DIR_MODE, FILE_MODE = 0o700, 0o600
#: files directly in the data directory that hold secrets or every record
_KNOWN_FILES = ("ophis.sqlite", "ophis.sqlite-wal", "ophis.sqlite-shm", "server.toml")


def private_dir(path: Path) -> Path:
    """``path`` and its missing parents, created 0700 (existing ones are left as they are)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> BinaryIO:
    """``path`` opened for writing (created or truncated), readable by the server only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(descriptor, "wb")


def make_private(path: Path) -> None:
    """Give a file the server's mode (for one written by a library, such as SQLite)."""
    os.chmod(path, FILE_MODE)


def secure_data_dir(data_dir: Path, sqlite_file: Path | None) -> None:
    """Create the data directory 0700, or tighten an existing one; the SQLite database
    (when the server keeps it there) is created 0600 before SQLite opens it, so that its
    journal files, which SQLite gives the database's mode, are private too."""
    private_dir(data_dir)
    _tighten(data_dir, DIR_MODE)
    for name in _KNOWN_FILES:
        if (data_dir / name).is_file():
            _tighten(data_dir / name, FILE_MODE)
    if sqlite_file is not None and not sqlite_file.exists():
        private_dir(sqlite_file.parent)
        private_file(sqlite_file).close()


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode == 0:
        return
    try:
        os.chmod(path, current & mode)
    except OSError as error:
        log.warning(
            "%s is readable by other users (mode %o) and could not be made private: %s."
            " Run `chmod %o %s` as its owner.",
            path,
            current,
            error,
            mode,
            path,
        )
        return
    log.warning("%s was readable by other users (mode %o); made it %o.", path, current, mode)
