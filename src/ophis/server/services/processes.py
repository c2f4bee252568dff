"""Processes the server starts on its host (notebook servers, deployments): starting one
as its account's OS user, is one alive, and ending one with everything it started.

A process may be another worker's child: ``waitpid`` reaps our own (so an ended child is
not a zombie forever), and ``/proc`` tells a zombie of another worker from a live process.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from ophis.server.services.os_users import OsUser


def spawn_as(
    user: OsUser,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: IO[bytes],
    max_processes: int,
    memory_bytes: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start user code as ``user``: no supplementary groups, a session and process group
    of its own (ended as one), files private by default, at most ``max_processes``
    processes for the account, and only the variables in ``env`` besides who it is --
    nothing of the server's environment."""
    environ = {**env, "HOME": str(user.home), "USER": user.name, "LOGNAME": user.name}

    def limits() -> None:  # in the child, before exec; inherited by its children
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        user=user.uid,
        group=user.gid,
        extra_groups=[],
        umask=0o077,
        start_new_session=True,
        preexec_fn=limits,
    )


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
