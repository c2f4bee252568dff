"""Notebooks on the server: one JupyterLab per signed-in user, on this host.

Each user has a persistent folder, ``<data-dir>/notebooks/<login>/``: the JupyterLab's
root, and ``envs/`` for the user's own conda environments. A JupyterLab listens on a Unix
socket in the user's runtime folder (mode 0600), never on a TCP port: only this server's
processes can reach it, so it needs no token of its own, and the server proxies it under
``/notebooks/<login>/`` to that user's web session alone.

The state of a running notebook server is a small JSON file beside its socket, so any
worker process of this host can proxy, count and stop it (notebooks are single-host by
design; see the README for JupyterHub). A lock file serializes starts, so the limit on how
many run at once holds across workers. Every proxied request touches an ``activity`` file;
the reaper (each worker runs one) stops a notebook server idle for longer than the
timeout, counting also the activity JupyterLab itself reports (kernels, terminals).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import httpx

from ophis.server.errors import BadRequest, NotFound, ServerError, TooManyRequests
from ophis.server.services.processes import is_alive, terminate_group
from ophis.server.settings import ServerSettings

STATE = "server.json"
SOCKET = "jupyter.sock"
ACTIVITY = "activity"
DEFAULT_ENVIRONMENT = "default"
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_START_SECONDS = 60.0


@dataclass
class NotebookServer:
    login: str
    environment: str
    pid: int
    socket: str
    started_at: float

    @property
    def socket_path(self) -> Path:
        return Path(self.socket)


def user_folder(settings: ServerSettings, login: str) -> Path:
    """The user's persistent notebook folder (created on first use)."""
    folder = settings.data_dir / "notebooks" / login.lower()
    (folder / "envs").mkdir(parents=True, exist_ok=True)
    return folder


def _runtime(settings: ServerSettings, login: str) -> Path:
    """Sockets and state: outside the user's folder, which JupyterLab serves."""
    folder = settings.data_dir / "notebooks-runtime" / login.lower()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def environments(settings: ServerSettings, login: str) -> list[str]:
    """What a user may start a JupyterLab in: the server's default, then their own."""
    envs = user_folder(settings, login) / "envs"
    own = sorted(p.name for p in envs.iterdir() if (p / "conda-meta").is_dir())
    return [DEFAULT_ENVIRONMENT, *own]


def running(settings: ServerSettings, login: str) -> NotebookServer | None:
    """The user's notebook server when its process is alive (a dead one is cleaned up)."""
    state = _runtime(settings, login) / STATE
    try:
        server = NotebookServer(**json.loads(state.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not is_alive(server.pid):
        _clean(_runtime(settings, login))
        return None
    return server


def all_running(settings: ServerSettings) -> list[NotebookServer]:
    root = settings.data_dir / "notebooks-runtime"
    if not root.is_dir():
        return []
    users = [f for f in sorted(root.iterdir()) if f.is_dir() and not f.name.startswith(".")]
    found = (running(settings, folder.name) for folder in users)
    return [server for server in found if server is not None]


def start(settings: ServerSettings, login: str, environment: str) -> NotebookServer:
    """Start the user's JupyterLab (or return the one running) and wait until it answers."""
    with _start_lock(settings):
        current = running(settings, login)
        if current is not None:
            return current
        if len(all_running(settings)) >= settings.notebooks_max_running:
            raise TooManyRequests(
                f"{settings.notebooks_max_running} notebook servers are running already, "
                "the most this server allows.",
                "Try again later, or ask the administrator to raise notebooks_max_running.",
            )
        server = _spawn(settings, login, environment)
    _wait_until_up(settings, server)
    return server


def stop(settings: ServerSettings, login: str) -> bool:
    """Stop the user's notebook server; False when none was running."""
    server = running(settings, login)
    if server is None:
        return False
    terminate_group(server.pid)
    _clean(_runtime(settings, login))
    return True


def touch(settings: ServerSettings, login: str) -> None:
    """Record activity (a proxied request)."""
    (_runtime(settings, login) / ACTIVITY).touch()


def reap_idle(settings: ServerSettings, now: float | None = None) -> list[str]:
    """Stop every notebook server idle for longer than the timeout; their logins."""
    now = time.time() if now is None else now
    stopped = []
    for server in all_running(settings):
        reported = status(server)
        if reported is None and now - server.started_at < _START_SECONDS:
            continue  # still starting: not idle yet
        if now - _last_activity(settings, server, reported) > settings.notebooks_idle_seconds:
            stop(settings, server.login)
            stopped.append(server.login)
    return stopped


def reaper(settings: ServerSettings) -> object:
    from ophis.server.background import PeriodicThread

    return PeriodicThread(
        "notebook-reaper", settings.notebooks_poll_seconds, lambda: reap_idle(settings)
    )


# --- starting ----------------------------------------------------------------------------


def _spawn(settings: ServerSettings, login: str, environment: str) -> NotebookServer:
    folder = user_folder(settings, login)
    runtime = _runtime(settings, login)
    _clean(runtime)
    command, env = _command(settings, login, environment, folder, runtime)
    log = (runtime / "jupyter.log").open("ab")
    memory = settings.notebooks_memory_mb * 1024 * 1024

    def limits() -> None:  # in the child, before exec: its address space, and its kernels'
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped with its kernels
        preexec_fn=limits,
    )
    log.close()
    server = NotebookServer(login, environment, process.pid, str(runtime / SOCKET), time.time())
    state = runtime / STATE
    state.with_suffix(".tmp").write_text(json.dumps(asdict(server)))
    state.with_suffix(".tmp").replace(state)
    (runtime / ACTIVITY).touch()
    return server


def _command(
    settings: ServerSettings, login: str, environment: str, folder: Path, runtime: Path
) -> tuple[list[str], dict[str, str]]:
    """JupyterLab's command line: the environment's own JupyterLab when it has one, else the
    server's, with the environment's Python as the default kernel."""
    jupyter = _server_jupyter(settings)
    kernel = None
    if environment != DEFAULT_ENVIRONMENT:
        prefix = _user_environment(folder, environment)
        if (prefix / "bin" / "jupyter-lab").is_file():
            jupyter = prefix / "bin" / "jupyter-lab"
        elif _has_ipykernel(prefix):
            kernel = _write_kernelspec(runtime, environment, prefix)
        else:
            raise BadRequest(
                f"The environment {environment!r} has neither jupyterlab nor ipykernel.",
                f"Install one into it (ophis install -p {prefix} ipykernel), then start again.",
            )
    base = f"/notebooks/{login.lower()}/"
    command = [
        str(jupyter),
        "--no-browser",
        f"--ServerApp.sock={runtime / SOCKET}",
        "--ServerApp.sock_mode=0600",
        f"--ServerApp.base_url={base}",
        f"--ServerApp.root_dir={folder}",
        # no token: the socket is reachable by this server's processes only, and the
        # server lets only this user's session through
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.open_browser=False",
        # no calls home from the server's host: no update checks, no news feed
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {
        "PATH": f"{Path(jupyter).parent}:/usr/bin:/bin",
        "HOME": str(folder),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "JUPYTER_RUNTIME_DIR": str(runtime / "jupyter"),
        "JUPYTER_DATA_DIR": str(runtime / "data"),
        "JUPYTER_CONFIG_DIR": str(runtime / "config"),
        "IPYTHONDIR": str(runtime / "ipython"),
    }
    if kernel is not None:
        env["JUPYTER_PATH"] = str(runtime / "kernel-specs")
        command.append(f"--MultiKernelManager.default_kernel_name={kernel}")
    return command, env


def runtime_environment(settings: ServerSettings) -> Path:
    """Where `ophis server notebooks setup` installs JupyterLab."""
    return settings.data_dir / "notebooks-runtime" / ".jupyterlab"


def _server_jupyter(settings: ServerSettings) -> Path:
    candidates = [Path(settings.notebooks_jupyter)] if settings.notebooks_jupyter else []
    candidates += [
        runtime_environment(settings) / "bin" / "jupyter-lab",
        Path(sys.prefix) / "bin" / "jupyter-lab",
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise ServerError(
        "JupyterLab is not installed for the server's notebooks.",
        "Run `ophis server notebooks setup` (it installs jupyterlab from PyPI), or set "
        "notebooks_jupyter to a jupyter-lab executable.",
    )


def _user_environment(folder: Path, name: str) -> Path:
    prefix = folder / "envs" / name
    if not _ENV_NAME.match(name) or not (prefix / "conda-meta").is_dir():
        raise NotFound(
            f"You have no environment named {name!r}.",
            f"Create it under {folder.name}/envs/ (ophis create -p envs/NAME ipykernel).",
        )
    return prefix


def _has_ipykernel(prefix: Path) -> bool:
    return any(prefix.glob("lib/python3*/site-packages/ipykernel/__init__.py"))


def _write_kernelspec(runtime: Path, environment: str, prefix: Path) -> str:
    name = f"ophis-{environment}"
    spec = runtime / "kernel-specs" / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    python = str(prefix / "bin" / "python")
    kernel = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({environment})",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return name


def _wait_until_up(settings: ServerSettings, server: NotebookServer) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if not is_alive(server.pid):
            log = _runtime(settings, server.login) / "jupyter.log"
            tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
            _clean(_runtime(settings, server.login))
            raise ServerError(
                f"JupyterLab stopped while starting: {tail.strip() or 'no output'}",
                "Tell the server's administrator; the log is in the user's runtime folder.",
            )
        if status(server) is not None:
            return
        time.sleep(0.2)
    stop(settings, server.login)
    raise ServerError(
        f"JupyterLab did not answer within {_START_SECONDS:.0f} seconds.",
        "Try again; if it persists, tell the server's administrator.",
    )


# --- state ------------------------------------------------------------------------------


def status(server: NotebookServer) -> dict | None:
    """JupyterLab's own ``/api/status`` (None while it does not answer)."""
    transport = httpx.HTTPTransport(uds=server.socket)
    url = f"http://notebook/notebooks/{server.login}/api/status"
    try:
        with httpx.Client(transport=transport, timeout=2.0) as client:
            answer = client.get(url)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _last_activity(
    settings: ServerSettings, server: NotebookServer, reported: dict | None
) -> float:
    seen = [server.started_at]
    activity = _runtime(settings, server.login) / ACTIVITY
    if activity.exists():
        seen.append(activity.stat().st_mtime)
    last = (reported or {}).get("last_activity")
    if last:
        seen.append(datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp())
    return max(seen)


def _clean(runtime: Path) -> None:
    for name in (STATE, SOCKET, ACTIVITY):
        (runtime / name).unlink(missing_ok=True)


@contextmanager
def _start_lock(settings: ServerSettings) -> Iterator[None]:
    lock = settings.data_dir / "notebooks-runtime" / ".start.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
