"""Deployments: projects whose ``serve`` task this host runs and proxies.

Deployments are off unless the administrator turns them on, and a deployment's code runs
as the OS user of its owner's account, never as the server
(:mod:`ophis.server.services.hosting.os_users`): its releases live in that account's area, outside
the data directory (which it cannot read), readable and not writable by it; it writes to
its $HOME. Where the server cannot isolate it, nothing is deployed or started.

A deploy receives a project archive (its manifest, lock file and files), unpacks it safely
into a new release folder, installs the environment the lock file pins -- without solving:
a lock that does not satisfy the manifest is refused -- then starts ``serve`` as a process
group of its own, listening on ``127.0.0.1:$PORT``, and waits until that port answers.
Only then does the new release replace the running one, so a failed deploy leaves nothing
new running (and the previous release, if any, serving).

No other account's code may reach a deployment but through the server's proxy, which
checks who calls it. So (with ``deployments_network = "none"``, the default) it runs in a
network namespace of its own, with only a loopback interface: its port exists in there
alone, and it reaches no network. The server reaches it through a Unix socket it binds in
its data directory (closed to user code), which a forwarder started with the app, in its
namespace and as its user (:mod:`~ophis.server.services.hosting.deployment_forwarder`), carries to
the app's port. ``"host"`` runs it in the host's network instead, where every local process
(other accounts' notebooks and deployments too) can connect to its port.

The supervisor (one per host, chosen by a file lock) restarts a deployment whose process
ended while it should run, after a back-off of 1, 2, 4, ... seconds (at most 5 minutes),
and counts the restarts. The output of every run is appended to the deployment's log.

Who may call a deployment is decided in :func:`can_invoke` (with ``authz``): everyone when
it is public; else its owner (and the owner organization's admins), the users and groups
it names, and tokens with the ``deployment:invoke`` scope of those accounts -- a token made
by ``ophis deployment token create`` reaches that one deployment only.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from select import select as wait_readable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ophis.core import project_archive
from ophis.core.errors import InvalidPackageError, OphisError
from ophis.core.file_lock import file_lock
from ophis.server.db.models import Account, Deployment, GroupMember, OrgGroup, utcnow
from ophis.server.errors import BadRequest, Conflict, NotFound, ServerError
from ophis.server.services.accounts import accounts, tokens
from ophis.server.services.accounts.authz import (
    READ,
    Principal,
    at_least,
    check_write_owner,
    is_superuser,
    role_on,
)
from ophis.server.services.hosting import deployment_forwarder
from ophis.server.services.hosting.os_users import (
    OsUser,
    account_user,
    homes_dir,
    os_user_name,
    private_folder,
    require_isolation,
    share_with,
)
from ophis.server.services.hosting.processes import is_alive, kill_group, spawn_as, terminate_group
from ophis.server.settings import ServerSettings

SCOPE = "deployment:invoke"
RUNNING, STOPPED, CRASHED, FAILED = "running", "stopped", "crashed", "failed"
SERVE_TASK = "serve"
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
_START_SECONDS = 90.0
_MAX_BACKOFF = 300.0
_LOG = "deployment.log"
NETWORKS = ("none", "host")
_NETWORKS_REMEDY = (
    'Set deployments_network to "none" (a network of its own per deployment) or "host".'
)
#: the longest path a Unix socket may have (sun_path, with its final NUL)
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Started:
    pid: int
    port: int


# --- paths ---------------------------------------------------------------------------


def deployment_dir(settings: ServerSettings, owner: str, name: str) -> Path:
    """The server's own files of a deployment (its log, locks, ``current``): closed to it."""
    return settings.data_dir / "deployments" / owner.lower() / name


def releases_dir(settings: ServerSettings, owner: str, name: str) -> Path:
    """Where its releases are unpacked and installed: in the owner account's area."""
    area = homes_dir(settings) / os_user_name(settings, owner)
    return area / "deployments" / name / "releases"


def current_release(settings: ServerSettings, owner: str, name: str) -> Path:
    return deployment_dir(settings, owner, name) / "current"


def log_path(settings: ServerSettings, owner: str, name: str) -> Path:
    return deployment_dir(settings, owner, name) / _LOG


def socket_path(settings: ServerSettings, pid: int) -> Path:
    """The Unix socket the server reaches the deployment whose process is ``pid`` through:
    in the data directory (closed to user code), short enough for a socket's address."""
    return settings.data_dir / "deployments" / ".sockets" / f"{pid}.sock"


# --- lookups and access ----------------------------------------------------------------


def find(session: Session, owner: str, name: str) -> Deployment | None:
    account = accounts.find_account(session, owner)
    if account is None:
        return None
    return session.scalar(
        select(Deployment).where(Deployment.owner_id == account.id, Deployment.name == name)
    )


def get_managed(session: Session, principal: Principal, owner: str, name: str) -> Deployment:
    """A deployment the caller may manage (write access to its owner's namespace)."""
    deployment = find(session, owner, name)
    if deployment is None or not _visible(session, principal, deployment):
        raise _not_found(owner, name)  # the same answer: names of private ones do not leak
    check_write_owner(session, principal, deployment.owner)
    return deployment


def _visible(session: Session, principal: Principal, deployment: Deployment) -> bool:
    """Does the caller know the deployment is there: a member of its owner's namespace, or
    someone who may call it?"""
    member = at_least(role_on(session, principal, deployment.owner), READ)
    return member or can_invoke(session, principal, deployment)


def list_managed(session: Session, principal: Principal, owner: str) -> list[Deployment]:
    account = accounts.find_account(session, owner)
    if account is None:
        raise NotFound(f"There is no account named {owner!r}.", "Check the name.")
    check_write_owner(session, principal, account)
    return list(
        session.scalars(
            select(Deployment).where(Deployment.owner_id == account.id).order_by(Deployment.name)
        )
    )


def can_invoke(session: Session, principal: Principal, deployment: Deployment) -> bool:
    if deployment.public:
        return True
    account = principal.account
    if account is None or account.is_disabled:
        return False
    if principal.token_id is not None:
        if not principal.has_scope(SCOPE):
            return False
        if principal.deployment_id not in (None, deployment.id):
            return False
    if is_superuser(principal) or role_on(session, principal, deployment.owner) is not None:
        return True
    if account.login_key in {u.lower() for u in deployment.allowed_users}:
        return True
    return _in_allowed_group(session, account, deployment.allowed_groups)


def _in_allowed_group(session: Session, account: Account, groups: list[Any]) -> bool:
    for entry in groups:
        org_name, _, group_name = str(entry).partition("/")
        org = accounts.find_account(session, org_name)
        if org is None:
            continue
        member = session.scalar(
            select(GroupMember.account_id)
            .join(OrgGroup, OrgGroup.id == GroupMember.group_id)
            .where(
                OrgGroup.org_id == org.id,
                OrgGroup.name == group_name,
                GroupMember.account_id == account.id,
            )
        )
        if member is not None:
            return True
    return False


def _not_found(owner: str, name: str) -> NotFound:
    return NotFound(
        f"There is no deployment {owner}/{name} (or it is not yours to see).",
        "Check the name with `ophis deployment list`.",
    )


# --- deploying -----------------------------------------------------------------------


def deploy(
    session: Session,
    settings: ServerSettings,
    principal: Principal,
    owner: str,
    name: str,
    archive: bytes,
    *,
    public: bool | None = None,
    users: list[str] | None = None,
    groups: list[str] | None = None,
) -> Deployment:
    """Install and start a new release of ``owner/name`` from a project archive."""
    account = accounts.find_account(session, owner)
    if account is None:
        raise NotFound(f"There is no account named {owner!r}.", "Check the owner's name.")
    check_write_owner(session, principal, account)
    _check_name(name)
    _require_enabled(settings)
    user = account_user(settings, account.login)
    folder = deployment_dir(settings, account.login, name)
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".deploy.lock"):
        releases = private_folder(user, releases_dir(settings, account.login, name))
        release = releases / f"{time.time_ns()}"
        try:
            project = _unpack(archive, release / "project")
            _install(settings, user, project)
            share_with(user, release)
            started = _start(settings, account.login, name, project)
        except BaseException:
            shutil.rmtree(release, ignore_errors=True)
            raise
        deployment = find(session, account.login, name)
        if deployment is not None and deployment.pid:
            _end(settings, deployment.pid)
        _switch(folder, release)
        if deployment is None:
            deployment = Deployment(owner_id=account.id, name=name, owner=account)
            session.add(deployment)
        deployment.public = bool(public) if public is not None else deployment.public or False
        if users is not None:
            deployment.allowed_users = sorted(set(users))
        if groups is not None:
            deployment.allowed_groups = sorted(set(groups))
        _mark_running(deployment, started)
        deployment.restarts = 0
        session.commit()
    return deployment


def _require_enabled(settings: ServerSettings) -> None:
    if not settings.deployments_enabled:
        raise NotFound(
            "Deployments are turned off on this server.",
            "Ask its administrator (deployments_enabled = true).",
        )
    require_isolation(settings, "Deployments", "deployments_enabled")


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "-_." for c in name) or name[0] in "._-":
        raise BadRequest(
            f"{name!r} is not a valid deployment name.", "Use letters, digits, '-', '_', '.'."
        )


def _unpack(archive: bytes, target: Path) -> Path:
    """The archive's files into ``target``, refusing anything that would land outside it."""
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise BadRequest(
            f"The project archive is {len(archive)} bytes; the limit is {MAX_ARCHIVE_BYTES}.",
            "Leave data and environments (.ophis/) out of the project.",
        )
    try:
        project_archive.unpack(archive, target, "The project archive")
    except InvalidPackageError as error:
        raise BadRequest(
            error.message,
            "Send a .tar.gz of the project folder (`ophis project deploy` makes one).",
        ) from None
    return target


def _project_config(settings: ServerSettings, user: OsUser) -> Any:
    """The package manager's settings for deployments: nothing of the server user's
    .condarc, a package cache per account (its files are linked into the account's
    environments, which its OS user reads)."""
    from ophis.manager.config import load_config

    cache = user.area / "pkgs"
    home = settings.data_dir / "deployments" / ".home"
    home.mkdir(parents=True, exist_ok=True)
    return load_config(
        {"HOME": str(home)},
        search_path=[],
        overrides={"pkgs_dirs": [str(cache)], "envs_dirs": [str(home / "envs")]},
    )


def _install(settings: ServerSettings, user: OsUser, project: Path) -> None:
    from ophis.project.manifest import find_manifest, load_manifest
    from ophis.project.workspace import prepare

    try:
        manifest = load_manifest(find_manifest(project))
        if manifest.root != project:
            raise BadRequest("The archive's manifest is not at its top.", "Archive the project.")
        manifest.task(SERVE_TASK)
        prepare(manifest, _project_config(settings, user), {"HOME": str(project)}, locked=True)
    except OphisError as error:
        raise BadRequest(error.message, error.remedy) from None


def _switch(folder: Path, release: Path) -> None:
    """Point ``current`` at ``release`` in one step; older releases go."""
    link = folder / "current"
    temporary = folder / "current.new"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(release)
    temporary.replace(link)
    for old in release.parent.iterdir():
        if old != release:
            shutil.rmtree(old, ignore_errors=True)


# --- processes -----------------------------------------------------------------------


def _start(settings: ServerSettings, owner: str, name: str, project: Path) -> Started:
    """Run the project's ``serve`` task on a free port; wait until the port answers."""
    from ophis.project.manifest import find_manifest, load_manifest
    from ophis.project.workspace import project_environ, task_script

    manifest = load_manifest(find_manifest(project))
    user = account_user(settings, owner)
    own_network = _network(settings) == "none"
    port = _free_port()
    root_path = f"/deployments/{owner.lower()}/{name}"
    environ = {  # all it gets, with who it is ($HOME, $USER): none of the server's secrets
        "PATH": "/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "PORT": str(port),
        "OPHIS_ROOT_PATH": root_path,
    }
    config = _project_config(settings, user)
    script = task_script(
        manifest,
        SERVE_TASK,
        [],
        config,
        {**environ, "HOME": str(user.home)},
        [sys.executable, "-m", "ophis"],
    )
    run = project.parent / "run.sh"
    run.write_text(script)
    os.chown(run, 0, user.gid)
    run.chmod(0o640)
    log = log_path(settings, owner, name)
    listener, listening = _listen(settings)
    ready, announce = os.pipe()
    try:
        with log.open("ab") as out:
            when = f"{utcnow():%Y-%m-%d %H:%M:%S}"
            where = "" if own_network else " (host network: other accounts can reach it)"
            out.write(f"--- starting {SERVE_TASK} on port {port}{where} at {when} UTC\n".encode())
            forwarder = [sys.executable, "-I", deployment_forwarder.__file__]
            forwarder += [str(port), str(listener.fileno()), str(announce)]
            process = spawn_as(
                user,
                [*forwarder, "bash", str(run)],
                cwd=project,
                env=project_environ(manifest, environ),
                output=out,
                max_processes=settings.user_max_processes,
                own_network=own_network,
                pass_fds=(listener.fileno(), announce),
            )
    except BaseException as error:
        listening.unlink()
        if own_network and isinstance(error, subprocess.SubprocessError):  # preexec failed
            raise _no_network_of_its_own(owner, name) from None
        raise
    finally:
        listener.close()  # the forwarder has its own copy
        os.close(announce)
    listening.replace(socket_path(settings, process.pid))
    try:
        _wait_until_listening(process, ready, port, log)
    except BaseException:
        _end(settings, process.pid)
        raise
    finally:
        os.close(ready)
    return Started(process.pid, port)


def _network(settings: ServerSettings) -> str:
    if settings.deployments_network not in NETWORKS:
        raise ServerError(
            f"deployments_network is {settings.deployments_network!r}.", _NETWORKS_REMEDY
        )
    return settings.deployments_network


def network_warning(settings: ServerSettings) -> str | None:
    """What the administrator is told at start when deployments run in the host's network
    (or when no deployment can start: an unknown network)."""
    if not settings.deployments_enabled or settings.deployments_network == "none":
        return None
    if settings.deployments_network not in NETWORKS:
        return f"deployments_network is {settings.deployments_network!r}. {_NETWORKS_REMEDY}"
    return (
        'deployments_network = "host": every local process, other accounts\' notebooks and '
        "deployments included, can connect to every deployment's port, private ones too, "
        'without the proxy\'s access checks. Use "none" unless all accounts trust each other.'
    )


def _no_network_of_its_own(owner: str, name: str) -> ServerError:
    return ServerError(
        f"{owner}/{name} could not be started in a network namespace of its own.",
        "Run the server as root on a host that allows network namespaces (a container "
        'needs CAP_SYS_ADMIN), or set deployments_network = "host", where other accounts\' '
        "code can reach every deployment's port.",
    )


def _listen(settings: ServerSettings) -> tuple[socket.socket, Path]:
    """A Unix socket listening under a temporary name, beside where the deployment's will be
    (the server names it after the forwarder's pid once it runs)."""
    folder = socket_path(settings, 0).parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"new-{time.time_ns()}.sock"
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        raise ServerError(
            f"The path of a deployment's socket, {path}, is longer than a Unix socket's "
            f"address can be ({_MAX_SOCKET_PATH} bytes).",
            "Give the server a data directory with a shorter path.",
        )
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    path.chmod(0o600)
    listener.listen(128)
    return listener, path


def _wait_until_listening(
    process: subprocess.Popen[bytes], ready: int, port: int, log: Path
) -> None:
    """Until the forwarder says the app accepts connections on its port."""
    deadline = time.monotonic() + _START_SECONDS
    while time.monotonic() < deadline:
        readable, _, _ = wait_readable([ready], [], [], 0.2)
        if readable and os.read(ready, 1) == b"1":
            return
        if process.poll() is not None:
            raise BadRequest(
                f"The {SERVE_TASK} task ended with exit code {process.returncode} before it "
                f"served:\n{tail(log, 20)}",
                f"Run `ophis project run {SERVE_TASK}` locally and fix what fails.",
            )
        if readable:  # the forwarder closed the pipe without a word: it is ending
            time.sleep(0.2)
    raise BadRequest(
        f"The {SERVE_TASK} task did not listen on $PORT ({port}) within "
        f"{_START_SECONDS:.0f} seconds:\n{tail(log, 20)}",
        f"Make the {SERVE_TASK} task listen on 127.0.0.1:$PORT.",
    )


def _end(settings: ServerSettings, pid: int) -> None:
    """End a deployment's process group, all of it, and its socket."""
    terminate_group(pid)
    kill_group(pid)  # what outlived its leader
    socket_path(settings, pid).unlink(missing_ok=True)


def _mark_running(deployment: Deployment, started: Started) -> None:
    deployment.pid, deployment.port = started.pid, started.port
    deployment.status, deployment.desired = RUNNING, RUNNING
    deployment.next_start_at = None
    deployment.updated_at = utcnow()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int) -> str:
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


# --- owner's commands ------------------------------------------------------------------


def stop(session: Session, settings: ServerSettings, deployment: Deployment) -> Deployment:
    if deployment.pid:
        _end(settings, deployment.pid)
    deployment.pid, deployment.port = None, None
    deployment.desired, deployment.status = STOPPED, STOPPED
    deployment.updated_at = utcnow()
    session.commit()
    return deployment


def start(session: Session, settings: ServerSettings, deployment: Deployment) -> Deployment:
    if deployment.status == RUNNING and is_alive(deployment.pid):
        return deployment
    _require_enabled(settings)
    # the release itself, in the owner's area: the link is in the data directory, closed to it
    release = current_release(settings, deployment.owner.login, deployment.name).resolve()
    project = release / "project"
    if not project.is_dir():
        raise Conflict(
            f"{deployment.owner.login}/{deployment.name} has no release to start.",
            "Deploy the project again.",
        )
    try:
        started = _start(settings, deployment.owner.login, deployment.name, project)
    except OphisError:
        deployment.status = FAILED
        session.commit()
        raise
    _mark_running(deployment, started)
    session.commit()
    return deployment


def remove(session: Session, settings: ServerSettings, deployment: Deployment) -> None:
    if deployment.pid:
        _end(settings, deployment.pid)
    owner, name = deployment.owner.login, deployment.name
    session.delete(deployment)
    session.commit()
    shutil.rmtree(deployment_dir(settings, owner, name), ignore_errors=True)
    shutil.rmtree(releases_dir(settings, owner, name).parent, ignore_errors=True)


def set_access(
    session: Session,
    deployment: Deployment,
    public: bool | None,
    users: list[str] | None,
    groups: list[str] | None,
) -> Deployment:
    if public is not None:
        deployment.public = public
    if users is not None:
        deployment.allowed_users = sorted(set(users))
    if groups is not None:
        deployment.allowed_groups = sorted(set(groups))
    deployment.updated_at = utcnow()
    session.commit()
    return deployment


def create_token(
    session: Session,
    principal: Principal,
    deployment: Deployment,
    name: str,
    expires_in: timedelta | None,
) -> tuple[Any, str]:
    """A token of the caller with the ``deployment:invoke`` scope, bound to this
    deployment; the secret is returned once. Like every token, never broader than the
    caller's credential."""
    max_age = int(expires_in.total_seconds()) if expires_in else None
    return tokens.create_token(
        session,
        principal,
        name,
        scopes=[SCOPE],
        max_age=max_age,
        deployment_id=deployment.id,
    )


def public_view(deployment: Deployment, root: str) -> dict[str, Any]:
    owner = deployment.owner.login
    return {
        "owner": owner,
        "name": deployment.name,
        "url": f"{root}/deployments/{owner.lower()}/{deployment.name}/",
        "status": deployment.status,
        "desired": deployment.desired,
        "public": deployment.public,
        "sandbox": deployment.sandbox,
        "allowed_users": list(deployment.allowed_users),
        "allowed_groups": list(deployment.allowed_groups),
        "restarts": deployment.restarts,
        "pid": deployment.pid,
        "last_exit_code": deployment.last_exit_code,
        "created_at": deployment.created_at.isoformat(),
        "updated_at": deployment.updated_at.isoformat(),
    }


# --- the supervisor ------------------------------------------------------------------


def supervise(context: Any) -> None:
    """One round: restart what should run and does not, after its back-off."""
    settings: ServerSettings = context.settings
    root = settings.data_dir / "deployments"
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / ".supervisor.lock", wait=False) as held:
        if not held:
            return  # another worker of this host supervises
        with context.sessions() as session:
            wanted = session.scalars(select(Deployment).where(Deployment.desired == RUNNING))
            for deployment in list(wanted):
                _supervise_one(session, settings, deployment)
            session.commit()


def _supervise_one(session: Session, settings: ServerSettings, deployment: Deployment) -> None:
    now = utcnow()
    if deployment.status == RUNNING:
        alive = is_alive(deployment.pid)
        if alive and socket_path(settings, deployment.pid).exists():
            return
        # else it ended, or it was started without a socket (by a server before this one)
        deployment.status = CRASHED
        deployment.last_exit_code = _exit_code(deployment.pid)
        _end(settings, deployment.pid)  # all of it: the app outlives a killed forwarder
        delay = min(2.0**deployment.restarts, _MAX_BACKOFF)
        deployment.next_start_at = now + timedelta(seconds=delay)
        why = "it has no socket to reach it through" if alive else "the process ended"
        with log_path(settings, deployment.owner.login, deployment.name).open("ab") as out:
            out.write(f"--- {why}; restarting in {delay:.0f} s\n".encode())
        return
    if deployment.status == CRASHED and (deployment.next_start_at or now) <= now:
        deployment.restarts += 1
        try:
            start(session, settings, deployment)
        except OphisError as error:
            deployment.status = CRASHED
            delay = min(2.0**deployment.restarts, _MAX_BACKOFF)
            deployment.next_start_at = now + timedelta(seconds=delay)
            with log_path(settings, deployment.owner.login, deployment.name).open("ab") as out:
                out.write(f"--- restart failed: {error.message}\n".encode())


def _exit_code(pid: int | None) -> int | None:
    if not pid:
        return None
    try:
        _, status = os.waitpid(pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if status else None
    except ChildProcessError:
        return None


def supervisor(context: Any, settings: ServerSettings) -> object:
    from ophis.server.background import PeriodicThread

    return PeriodicThread(
        "deployment-supervisor", settings.deployments_poll_seconds, lambda: supervise(context)
    )
