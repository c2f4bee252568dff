"""Processes the server starts on its host (notebook servers, deployments): starting one
as its account's OS user (optionally in a network of its own), is one alive, and ending
one with everything it started.

A process may be another worker's child: ``waitpid`` reaps our own (so an ended child is
not a zombie forever), and ``/proc`` tells a zombie of another worker from a live process.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import resource
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from ophis.server.services.hosting.os_users import OsUser


def spawn_as(
    user: OsUser,
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    output: IO[bytes],
    max_processes: int,
    memory_bytes: int | None = None,
    own_network: bool = False,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start user code as ``user``: no supplementary groups, a session and process group
    of its own (ended as one), files private by default, at most ``max_processes``
    processes for the account, and only the variables in ``env`` besides who it is --
    nothing of the server's environment. With ``own_network``, in a network namespace of
    its own with only a loopback interface: no other process of the host reaches what it
    listens on, and it reaches nothing outside."""
    environ = {**env, "HOME": str(user.home), "USER": user.name, "LOGNAME": user.name}
    unshare = _unshare_function() if own_network else None

    def become_user() -> None:  # in the child, before exec; inherited by its children
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))
        if memory_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if unshare is not None:  # still root: a new namespace needs the privilege
            _enter_own_network(unshare)
        os.setgroups([])
        os.setregid(user.gid, user.gid)
        os.setreuid(user.uid, user.uid)

    return subprocess.Popen(
        list(command),
        cwd=cwd,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        umask=0o077,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
        # the switch to the user is made here rather than by Popen's user=, which would
        # drop root before this runs, too early to make a network namespace
        preexec_fn=become_user,
    )


_CLONE_NEWNET = 0x40000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x8, 0x40


def _unshare_function() -> Callable[[int], int]:
    """libc's unshare(2) (``os.unshare`` is Python 3.12+), looked up before fork: loading
    a library in the forked child could deadlock on a lock another thread held."""
    return ctypes.CDLL(None, use_errno=True).unshare


def _enter_own_network(unshare: Callable[[int], int]) -> None:
    """A new network namespace for this process, with its loopback interface up (what
    ``ip link set lo up`` does, without a program to run in the child)."""
    if unshare(_CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWNET): {os.strerror(error)}")
    flags = _IFF_UP | _IFF_LOOPBACK | _IFF_RUNNING
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        fcntl.ioctl(probe, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags))


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


def kill_group(pid: int) -> None:
    """SIGKILL to what is left of the process group ``pid`` led (its leader has ended)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


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
