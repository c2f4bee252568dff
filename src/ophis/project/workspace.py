"""A project's lock file and environment, kept in step with its manifest, and its tasks.

``ophis.lock`` (the rattler/pixi lock format, one environment ``default``) is written by
Ophis's solver for every platform of the manifest. It is current while it locks the
manifest's channels, for this platform, a package matching every dependency; otherwise
the next ``run`` locks again (pixi's rule: the lock changes only when the manifest asks
for something it does not satisfy). The environment, ``.ophis/envs/default``, is made to
hold exactly what the lock pins for this platform, without solving; PyPI dependencies are
then installed with the environment's pip (they are pinned as written, not locked).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import rattler

from ophis.core.channel import expand_channels
from ophis.core.errors import OphisError
from ophis.manager.activation import SHELLS, Activator, run_script
from ophis.manager.config import Config
from ophis.manager.envfile import EnvironmentFile
from ophis.manager.environments import finish_env_file
from ophis.manager.lockfile import LockRequest, lock_environment, locked_records, write_lock
from ophis.manager.operations import ChangeRequest, apply_change, fetch_repodata, plan_locked
from ophis.manager.prefix import PrefixData
from ophis.project.manifest import Manifest, ProjectError


@dataclass
class Prepared:
    """What :func:`prepare` did."""

    prefix: Path
    locked: bool  #: the lock file was written now
    installed: bool  #: the environment changed


def lock(manifest: Manifest, config: Config, environ: Mapping[str, str]) -> None:
    """Solve for every platform of the manifest and write ``ophis.lock``."""
    channels = expand_channels(list(manifest.channels), config.channel_context(str(manifest.root)))
    request = LockRequest(
        specs=manifest.specs,
        channels=tuple(channels),
        platforms=manifest.platforms or (config.subdir,),
        channel_priority=config.channel_priority,
    )
    try:
        solved = lock_environment(request, config, environ, fetch_repodata)
    except OphisError as error:
        raise ProjectError(
            f"The environment of {manifest.name} cannot be solved: {error.message}",
            error.remedy or f"Change [dependencies] or channels in {manifest.path.name}.",
        ) from None
    temporary = manifest.lock_path.with_suffix(".lock.tmp")
    write_lock(solved, temporary)
    temporary.replace(manifest.lock_path)


def lock_is_current(manifest: Manifest, config: Config) -> bool:
    if not manifest.lock_path.is_file():
        return False
    try:
        records = locked_records(manifest.lock_path, config.subdir)
        locked_channels = _locked_channels(manifest.lock_path)
    except OphisError:
        return False
    wanted = expand_channels(list(manifest.channels), config.channel_context(str(manifest.root)))
    if [c.base_url.rstrip("/") for c in wanted] != locked_channels:
        return False
    return all(
        any(rattler.MatchSpec(spec).matches(record) for record in records)
        for spec in manifest.specs
    )


def _locked_channels(path: Path) -> list[str]:
    environment = rattler.LockFile.from_path(path).default_environment()
    return [str(c).rstrip("/") for c in environment.channels()] if environment else []


def prepare(
    manifest: Manifest, config: Config, environ: Mapping[str, str], *, locked: bool = False
) -> Prepared:
    """Lock when the lock is not current (refused with ``locked``), then make the
    environment hold what the lock pins."""
    wrote_lock = False
    if not lock_is_current(manifest, config):
        if locked:
            raise ProjectError(
                f"{manifest.lock_path.name} does not satisfy {manifest.path.name} for "
                f"{config.subdir}.",
                "Run `ophis project lock` and commit the lock file.",
            )
        lock(manifest, config, environ)
        wrote_lock = True
    prefix = manifest.prefix
    action = "install" if PrefixData(prefix).is_environment() else "create"
    request = ChangeRequest(action, prefix, argv=("ophis", "project", "install"))
    outcome = plan_locked(request, manifest.lock_path, config)
    changed = outcome.solution is not None
    if changed:
        prefix.parent.mkdir(parents=True, exist_ok=True)
        apply_change(request, outcome, config)
    if manifest.pypi_dependencies and (changed or wrote_lock):
        requirements = tuple(
            name if spec in ("", "*") else f"{name}{spec}"
            for name, spec in manifest.pypi_dependencies.items()
        )
        finish_env_file(EnvironmentFile(pip=requirements), prefix, manifest.root, quiet=True)
    return Prepared(prefix, wrote_lock, changed)


def task_script(
    manifest: Manifest,
    name: str,
    args: Sequence[str],
    config: Config,
    environ: Mapping[str, str],
    ophis: Sequence[str],
) -> str:
    """A bash script that activates the project's environment (as ``ophis run`` does),
    exports the manifest's variables and runs the task with ``args`` appended."""
    task = manifest.task(name)
    activator = Activator(config, environ, SHELLS["posix"])
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in manifest.env.items())
    command = " ".join([task.cmd, *map(shlex.quote, args)])
    # a command with a newline is passed through as written (shell syntax kept)
    return run_script(activator, str(manifest.prefix), [exports + command + "\n"], ophis)


def project_environ(manifest: Manifest, environ: Mapping[str, str]) -> dict[str, str]:
    """What a task starts with: the caller's variables, and where the project is."""
    return {
        **environ,
        "OPHIS_PROJECT_ROOT": str(manifest.root),
        "PIXI_PROJECT_ROOT": str(manifest.root),
    } | {"PWD": os.fspath(manifest.root)}
