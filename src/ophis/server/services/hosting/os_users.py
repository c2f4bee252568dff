"""The OS users that run user code: one per account, never the server's own.

Notebooks and deployments run code their users wrote. That code runs as an unprivileged
OS user of its account, which this server creates itself (it must run as root to do so):
its name is a fixed prefix, a sanitized part of the login and a hash of the login and of
the server's ``user_homes_dir``, so no login can name an existing account, and two servers
on one host never share one. It has no login shell, no supplementary groups and no home
inside the data directory, which it cannot read. Its files live under ``user_homes_dir``::

    <user_homes_dir>/               root 0711: reachable, not listable
      <os user>/                    root:<its group> 0750: the account's area, closed to others
        home/                       <os user> 0700: $HOME, the notebooks' folder, envs/
        run/                        root:<its group> 0750: sockets, kernel specs
        deployments/<name>/...      root:<its group>: releases, readable, not writable
        pkgs/                       root: the account's own package cache for deployments

Where the server cannot isolate (it is not root, or ``useradd`` is missing), nothing of
the users' code is started: :func:`require_isolation` says why and what to do.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ophis.core.file_lock import file_lock
from ophis.server.errors import ServerError
from ophis.server.settings import ServerSettings

PREFIX = "ophis-"
_UNSAFE = re.compile(r"[^a-z0-9]")


class IsolationUnavailable(ServerError):
    """The server cannot run user code as another OS user, so it runs none."""

    status = 503
    exception_name = "IsolationUnavailable"


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int
    #: the account's area (root-owned, open to this user's group only)
    area: Path

    @property
    def home(self) -> Path:
        return self.area / "home"

    @property
    def run(self) -> Path:
        return self.area / "run"


def os_user_name(settings: ServerSettings, login: str) -> str:
    """``ophis-<up to 12 letters of the login>-<8 hex digits>``: at most 27 characters."""
    key = login.lower()
    digest = hashlib.sha256(f"{homes_dir(settings)}\0{key}".encode()).hexdigest()[:8]
    readable = _UNSAFE.sub("", key)[:12]
    return f"{PREFIX}{readable}-{digest}" if readable else f"{PREFIX}{digest}"


def homes_dir(settings: ServerSettings) -> Path:
    return Path(settings.user_homes_dir).absolute()


def isolation_problem(settings: ServerSettings) -> str | None:
    """Why this server cannot run user code as an OS user of its own; None when it can."""
    if os.geteuid() != 0:
        return "the server is not running as root, so it cannot create an OS user per account"
    if shutil.which("useradd") is None:
        return "useradd is not installed, so the server cannot create an OS user per account"
    homes = homes_dir(settings)
    if _inside(homes, settings.data_dir) or _inside(settings.data_dir, homes):
        return f"user_homes_dir ({homes}) overlaps the data directory, closed to user code"
    closed = next((p for p in homes.parents if p.exists() and not p.stat().st_mode & 0o001), None)
    if closed is not None:
        return f"{closed}, above user_homes_dir ({homes}), is closed to other users (no o+x)"
    return None


def isolation_error(
    settings: ServerSettings, feature: str, setting: str
) -> IsolationUnavailable | None:
    """What a user and the administrator are told when ``feature`` cannot start user code
    isolated; None when it can."""
    problem = isolation_problem(settings)
    if problem is None:
        return None
    return IsolationUnavailable(
        f"{feature} need isolation (user code never runs as the server): {problem}.",
        "Run the server as root so it can create an OS user per account, with "
        f"user_homes_dir outside the data directory, or turn them off ({setting} = false).",
    )


def refusals(settings: ServerSettings) -> list[IsolationUnavailable]:
    """What the features the administrator turned on cannot do on this host."""
    wanted = [
        ("Notebooks", "notebooks_enabled", settings.notebooks_enabled),
        ("Deployments", "deployments_enabled", settings.deployments_enabled),
    ]
    found = (isolation_error(settings, f, s) for f, s, on in wanted if on)
    return [error for error in found if error is not None]


def require_isolation(settings: ServerSettings, feature: str, setting: str) -> None:
    """Refuse to start user code unless it can run as an OS user of its account."""
    error = isolation_error(settings, feature, setting)
    if error is not None:
        raise error


def account_user(settings: ServerSettings, login: str) -> OsUser:
    """The OS user of ``login``'s account, created with its folders on first use."""
    name = os_user_name(settings, login)
    area = homes_dir(settings) / name
    with file_lock(settings.data_dir / ".os-users.lock"):  # one creation at a time
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            _create(name, area / "home")
            entry = pwd.getpwnam(name)
        if Path(entry.pw_dir) != area / "home":
            raise ServerError(
                f"The OS user {name} exists but is not this server's user for {login}.",
                f"Remove that OS user (userdel {name}) or change user_homes_dir.",
            )
        user = OsUser(name, entry.pw_uid, entry.pw_gid, area)
        _make_folders(user)
    _close(settings.data_dir)
    return user


def share_with(user: OsUser, root: Path) -> None:
    """Let ``user`` read (not write) what the server wrote under ``root``: root-owned, in
    the user's group, group-readable. Symbolic links are left as they are."""
    for folder, dirs, files in os.walk(root):
        _group_readable(Path(folder), user.gid, directory=True)
        for name in files:
            _group_readable(Path(folder) / name, user.gid, directory=False)
        for name in list(dirs):
            if (Path(folder) / name).is_symlink():
                dirs.remove(name)


def private_folder(user: OsUser, path: Path, *, writable: bool = False) -> Path:
    """A root-owned folder (with its parents up to the area) that only ``user`` reaches;
    ``writable`` lets the user create files in it."""
    for folder in [*reversed(path.relative_to(user.area).parents), path.relative_to(user.area)]:
        target = user.area / folder
        target.mkdir(exist_ok=True)
        os.chown(target, 0, user.gid)
        os.chmod(target, 0o770 if writable and target == path else 0o750)
    return path


# --- creating ---------------------------------------------------------------------------


def _create(name: str, home: Path) -> None:
    shell = shutil.which("nologin") or "/bin/false"
    command = ["useradd", "--system", "--no-create-home", "--user-group"]
    command += ["--home-dir", str(home), "--shell", shell, name]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise ServerError(
            f"Could not create the OS user {name}: {done.stderr.strip()}",
            "Check that the server runs as root and that useradd works on this host.",
        )


def _make_folders(user: OsUser) -> None:
    homes = user.area.parent
    homes.mkdir(parents=True, exist_ok=True)
    os.chmod(homes, 0o711)
    user.area.mkdir(exist_ok=True)
    os.chown(user.area, 0, user.gid)
    os.chmod(user.area, 0o750)
    user.home.mkdir(exist_ok=True)
    os.chown(user.home, user.uid, user.gid)
    os.chmod(user.home, 0o700)
    private_folder(user, user.run)


def _close(data_dir: Path) -> None:
    """The data directory (database, blobs, secrets) open to the server's user alone."""
    mode = stat.S_IMODE(data_dir.stat().st_mode)
    if mode & 0o077:
        data_dir.chmod(mode & 0o700)


def _group_readable(path: Path, gid: int, *, directory: bool) -> None:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        return
    os.chown(path, 0, gid, follow_symlinks=False)
    mode = stat.S_IMODE(info.st_mode) & ~0o022 | stat.S_IRGRP
    if directory or info.st_mode & stat.S_IXUSR:
        mode |= stat.S_IXGRP
    os.chmod(path, mode)


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
