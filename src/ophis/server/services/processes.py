"""Processes the server starts on its host (notebook servers, deployments): is one alive,
and ending one with everything it started.

A process may be another worker's child: ``waitpid`` reaps our own (so an ended child is
not a zombie forever), and ``/proc`` tells a zombie of another worker from a live process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return False
    except ChildProcessError:  # not our child
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False


def terminate_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM to the process group ``pid`` leads (it was started in a session of its own),
    SIGKILL after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not is_alive(pid):
                return
            time.sleep(0.1)
