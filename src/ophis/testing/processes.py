"""Finding a server's worker processes from outside, for fault tests: which worker holds
a client's connection, read from Linux's ``/proc`` (no library exposes this)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (2nd field) may hold spaces: the parent is after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == port and state == "01":  # ESTABLISHED
                inodes.add(inode)
    return inodes


def workers_with_connections(server_pid: int, port: int) -> list[int]:
    """The server's workers that hold a client connection on ``port`` now."""
    inodes = {f"socket:[{inode}]" for inode in _established_inodes(port)}
    holding = []
    for worker in children(server_pid):
        try:
            fds = [os.readlink(fd) for fd in Path(f"/proc/{worker}/fd").iterdir()]
        except OSError:
            continue
        if inodes.intersection(fds):
            holding.append(worker)
    return holding


def kill_worker_serving(server_pid: int, port: int, timeout: float = 10.0) -> int:
    """SIGKILL the (first) worker holding a connection on ``port``; its pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holding = workers_with_connections(server_pid, port)
        if holding:
            os.kill(holding[0], signal.SIGKILL)
            return holding[0]
        time.sleep(0.01)
    raise TimeoutError(f"no worker of {server_pid} held a connection on port {port}")


def wait_for_workers(server_pid: int, count: int, timeout: float = 30.0) -> list[int]:
    """Until the server has ``count`` workers again (uvicorn restarts a dead one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = children(server_pid)
        if len(alive) >= count:
            return alive
        time.sleep(0.1)
    raise TimeoutError(f"the server {server_pid} has not {count} workers after {timeout} s")
