"""Servers that run user code (notebooks, deployments) in tests: turned on explicitly, with
the accounts' homes in a folder of their own, and the OS users the server made for them
removed afterwards (with their processes)."""

from __future__ import annotations

import fcntl
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from ophis.core.file_lock import file_lock
from ophis.testing.server import RunningServer, run_server

#: why tests of user code are skipped: the server isolates it only as root
NOT_ROOT = "user code runs as an OS user per account, which the server creates only as root"

#: what a hostile page's script tries against the site (at ``site``) with the visitor's
#: cookies: read the tokens page, post the form that creates a token, plant a session
ATTACK_THE_SITE = """async (site) => {
  const out = [];
  const attempt = async (name, act) => {
    try { out.push(name + "=" + await act()); } catch (e) { out.push(name + "=blocked"); }
  };
  await attempt("read", async () => (await fetch(site + "/settings/tokens",
    {credentials: "include"})).text());
  await attempt("post", async () => (await fetch(site + "/settings/tokens", {method: "POST",
    credentials: "include", body: new URLSearchParams({name: "stolen", scopes: "all"})})).status);
  await attempt("cookie", async () => {
    document.cookie = "ophis_session=planted; path=/";
    document.cookie = "ophis_session=planted; path=/settings";
    return "written";
  });
  return out.join(" ");
}"""


@contextmanager
def user_homes() -> Iterator[Path]:
    """A ``user_homes_dir`` every user can reach (pytest's own folders are closed), while
    the accounts' users can run this interpreter (see :func:`_interpreter_reachable`)."""
    homes = Path(tempfile.mkdtemp(prefix="ophis-homes-"))
    homes.chmod(0o711)
    try:
        with _interpreter_reachable():
            yield homes
    finally:
        for name in users_under(homes):
            _end_processes(pwd.getpwnam(name).pw_uid)
            # --force: a process just killed may not be gone yet
            subprocess.run(["userdel", "--force", name], capture_output=True, check=False)
        shutil.rmtree(homes, ignore_errors=True)


def enable_user_code(data_dir: Path, homes: Path, *lines: str) -> None:
    """A ``server.toml`` that turns notebooks and deployments on, plus ``lines``."""
    settings = [
        "notebooks_enabled = true",
        "deployments_enabled = true",
        f'user_homes_dir = "{homes}"',
        *lines,
    ]
    (data_dir / "server.toml").write_text("\n".join(settings) + "\n")


@contextmanager
def user_code_server(data_dir: Path, *lines: str) -> Iterator[RunningServer]:
    """A server on ``data_dir`` that runs user code, with ``lines`` added to its settings;
    ending it ends what the user code left running (and the users the server made)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with user_homes() as homes:
        enable_user_code(data_dir, homes, *lines)
        with run_server(data_dir) as running:
            yield running


@contextmanager
def _interpreter_reachable() -> Iterator[None]:
    """User code runs this interpreter (JupyterLab, the test channel's python), as it runs
    a server's on a real host; where it lives in a closed home (a CI's /root), the folders
    above it are opened for traversal only (o+x, no listing), and closed again by the last
    test run of this host that needed them (the first one noted their modes)."""
    state = Path(tempfile.gettempdir()) / "ophis-interpreter-reachable.json"
    with open(state.with_suffix(".lock"), "a") as using:
        fcntl.flock(using, fcntl.LOCK_SH)
        with _state_lock(state):
            if not state.exists():
                state.write_text(json.dumps(_open_for_traversal()))
        try:
            yield
        finally:
            with _state_lock(state):
                try:
                    fcntl.flock(using, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another run still needs them
                else:
                    for folder, mode in json.loads(state.read_text()).items():
                        Path(folder).chmod(mode)
                    state.unlink()


def _open_for_traversal() -> dict[str, int]:
    opened = {}
    for folder in Path(sys.executable).resolve().parents:
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            opened[str(folder)] = mode
    return opened


@contextmanager
def _state_lock(state: Path) -> Iterator[None]:
    with file_lock(state.with_suffix(".state-lock")):
        yield


def users_under(homes: Path) -> list[str]:
    """The OS users the server made with their home under ``homes``."""
    return [e.pw_name for e in pwd.getpwall() if Path(e.pw_dir).is_relative_to(homes)]


def _end_processes(uid: int) -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
