"""Notebooks on the server: one JupyterLab per signed-in user, on this host.

A JupyterLab and its kernels run as the OS user of the user's account, never as the
server (:mod:`ophis.server.services.hosting.os_users`): they cannot read the data directory, and
nothing starts where the server cannot isolate them. The user's home (outside the data
directory, closed to other accounts) is the JupyterLab's root, with ``envs/`` for the
user's own conda environments. A JupyterLab listens on a Unix socket in the account's
``run/`` folder (mode 0600, a folder the user cannot change once it listens), never on a
TCP port: only the server reaches it, so it needs no token of its own, and the server
proxies it under ``/notebooks/<login>/`` to that user's web session alone.

The state of a running notebook server is a small JSON file beside its socket, so any
worker process of this host can proxy, count and stop it (notebooks are single-host by
design; see the README for JupyterHub). A lock file serializes starts, so the limit on how
many run at once holds across workers. Every proxied request touches an ``activity`` file;
the reaper (each worker runs one) stops a notebook server idle for longer than the
timeout, counting also the activity JupyterLab itself reports (kernels, terminals).
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import httpx

from ophis.core.file_lock import file_lock
from ophis.server.errors import BadRequest, NotFound, ServerError, TooManyRequests
from ophis.server.services.hosting.os_users import (
    OsUser,
    account_user,
    homes_dir,
    isolation_error,
    os_user_name,
    private_folder,
    require_isolation,
    share_with,
)
from ophis.server.services.hosting.processes import is_alive, spawn_as, terminate_group
from ophis.server.settings import ServerSettings

STATE = "server.json"
SOCKET = "jupyter.sock"
ACTIVITY = "activity"
DEFAULT_ENVIRONMENT = "default"
_ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_START_SECONDS = 60.0
_FEATURE = ("Notebooks", "notebooks_enabled")


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
    """The user's persistent notebook folder: the home of the account's OS user."""
    return homes_dir(settings) / os_user_name(settings, login) / "home"


def _socket(settings: ServerSettings, login: str) -> Path:
    return homes_dir(settings) / os_user_name(settings, login) / "run" / SOCKET


def _runtime(settings: ServerSettings, login: str) -> Path:
    """State and log, in the data directory: the user's code can neither read nor change
    them (the state names the process group the server ends)."""
    folder = settings.data_dir / "notebooks-runtime" / login.lower()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def cannot_start(settings: ServerSettings) -> ServerError | None:
    """Why no notebook server can start on this host (None when one can)."""
    if not settings.notebooks_enabled:
        return NotFound(
            "Notebooks are turned off on this server.",
            "Ask its administrator to turn them on (notebooks_enabled = true).",
        )
    return isolation_error(settings, *_FEATURE)


def environments(settings: ServerSettings, login: str) -> list[str]:
    """What a user may start a JupyterLab in: the server's default, then their own."""
    envs = user_folder(settings, login) / "envs"
    found = envs.iterdir() if envs.is_dir() else ()
    own = sorted(p.name for p in found if (p / "conda-meta").is_dir())
    return [DEFAULT_ENVIRONMENT, *own]


def running(settings: ServerSettings, login: str) -> NotebookServer | None:
    """The user's notebook server when its process is alive (a dead one is cleaned up)."""
    state = _runtime(settings, login) / STATE
    try:
        server = NotebookServer(**json.loads(state.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not is_alive(server.pid):
        _clean(settings, login)
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
    require_isolation(settings, *_FEATURE)
    with file_lock(settings.data_dir / "notebooks-runtime" / ".start.lock"):
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
    _clean(settings, login)
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
    user = account_user(settings, login)
    runtime = _runtime(settings, login)
    _clean(settings, login)
    _own_folder(user, user.home / "envs")
    command, env = _command(settings, login, environment, user)
    private_folder(user, user.run, writable=True)  # for JupyterLab's socket, until it listens
    with (runtime / "jupyter.log").open("ab") as log:
        try:
            process = spawn_as(
                user,
                command,
                cwd=user.home,
                env=env,
                output=log,
                max_processes=settings.user_max_processes,
                memory_bytes=settings.notebooks_memory_mb * 1024 * 1024,
            )
        except PermissionError:
            raise ServerError(
                f"The accounts' OS users cannot run {command[0]}.",
                "Install JupyterLab where every user can read it (`ophis server notebooks "
                "setup`, or notebooks_jupyter), not under a closed home such as /root.",
            ) from None
    server = NotebookServer(login, environment, process.pid, str(user.run / SOCKET), time.time())
    state = runtime / STATE
    state.with_suffix(".tmp").write_text(json.dumps(asdict(server)))
    state.with_suffix(".tmp").replace(state)
    (runtime / ACTIVITY).touch()
    return server


def _own_folder(user: OsUser, path: Path) -> None:
    """A folder of the user's home, made for them (never following what they put there)."""
    if not path.exists() and not path.is_symlink():
        path.mkdir(mode=0o700)
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _command(
    settings: ServerSettings, login: str, environment: str, user: OsUser
) -> tuple[list[str], dict[str, str]]:
    """JupyterLab's command line: the environment's own JupyterLab when it has one, else the
    server's, with the environment's Python as the default kernel."""
    jupyter = _server_jupyter(settings)
    kernel = None
    folder = user.home
    if environment != DEFAULT_ENVIRONMENT:
        prefix = _user_environment(folder, environment)
        if (prefix / "bin" / "jupyter-lab").is_file():
            jupyter = prefix / "bin" / "jupyter-lab"
        elif _has_ipykernel(prefix):
            kernel = _write_kernelspec(user, environment, prefix)
        else:
            raise BadRequest(
                f"The environment {environment!r} has neither jupyterlab nor ipykernel.",
                f"Install one into it (ophis install -p {prefix} ipykernel), then start again.",
            )
    base = f"/notebooks/{login.lower()}/"
    command = [
        str(jupyter),
        "--no-browser",
        f"--ServerApp.sock={user.run / SOCKET}",
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
    # Jupyter's runtime, data and config folders are the defaults under $HOME
    env = {
        "PATH": f"{Path(jupyter).parent}:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    if kernel is not None:
        env["JUPYTER_PATH"] = str(user.run / "kernel-specs")
        command.append(f"--MultiKernelManager.default_kernel_name={kernel}")
    return command, env


def runtime_environment(settings: ServerSettings) -> Path:
    """Where `ophis server notebooks setup` installs JupyterLab: outside the data directory,
    so that the accounts' OS users can run it."""
    return homes_dir(settings) / ".jupyterlab"


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


def _write_kernelspec(user: OsUser, environment: str, prefix: Path) -> str:
    name = f"ophis-{environment}"
    specs = private_folder(user, user.run / "kernel-specs")
    spec = specs / "kernels" / name
    spec.mkdir(parents=True, exist_ok=True)
    python = str(prefix / "bin" / "python")
    kernel = {
        "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python ({environment})",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    share_with(user, specs)
    return name


def _wait_until_up(settings: ServerSettings, server: NotebookServer) -> None:
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        if not is_alive(server.pid):
            log = _runtime(settings, server.login) / "jupyter.log"
            tail = log.read_text(errors="replace")[-600:] if log.is_file() else ""
            _clean(settings, server.login)
            raise ServerError(
                f"JupyterLab stopped while starting: {tail.strip() or 'no output'}",
                "Tell the server's administrator; the log is in the user's runtime folder.",
            )
        if server.socket_path.exists() and status(server) is not None:
            _seal(settings, server)
            return
        time.sleep(0.2)
    stop(settings, server.login)
    raise ServerError(
        f"JupyterLab did not answer within {_START_SECONDS:.0f} seconds.",
        "Try again; if it persists, tell the server's administrator.",
    )


def _seal(settings: ServerSettings, server: NotebookServer) -> None:
    """Close the socket's folder to the user's changes, then check that the socket there is
    the one the user's JupyterLab made (not a link to another account's)."""
    user = account_user(settings, server.login)
    private_folder(user, user.run)
    made = server.socket_path.lstat()
    if not stat.S_ISSOCK(made.st_mode) or made.st_uid != user.uid:
        stop(settings, server.login)
        raise ServerError(
            f"The notebook server of {server.login} did not make its own socket.",
            "Start it again; if it persists, tell the server's administrator.",
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


def _clean(settings: ServerSettings, login: str) -> None:
    runtime = _runtime(settings, login)
    for name in (STATE, ACTIVITY):
        (runtime / name).unlink(missing_ok=True)
    _socket(settings, login).unlink(missing_ok=True)
