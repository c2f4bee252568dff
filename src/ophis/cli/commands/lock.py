"""``ophis lock``: solve once per platform and write a lock file (the pixi format), which
``ophis create|install --locked`` installs again exactly, without solving."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ophis.cli.options import CHANNEL, JSON, OVERRIDE, warn
from ophis.cli.output import emit_json, fail, stdout
from ophis.core.errors import CondaValueError, OphisError
from ophis.manager.config import load_config_from_os
from ophis.manager.envfile import EnvironmentFile, read_environment_file
from ophis.manager.lockfile import (
    DEFAULT_LOCK_FILE,
    LockRequest,
    lock_environment,
    locked_records,
    write_lock,
)
from ophis.manager.operations import ChangeRequest, channels_for, fetch_repodata
from ophis.manager.records import dist_name


def register(app: typer.Typer) -> None:
    app.command("lock")(lock)


def lock(
    specs: list[str] = typer.Argument(None, help="Package specs, e.g. 'numpy>=1.26'."),
    file: Path = typer.Option(
        None, "--file", "-f", help="An environment.yml: its channels, dependencies, platforms."
    ),
    channel: list[str] = CHANNEL,
    override_channels: bool = OVERRIDE,
    platform: list[str] = typer.Option(
        [], "--platform", help="Lock for this platform (repeatable; default: this machine's)."
    ),
    lockfile: Path = typer.Option(
        Path(DEFAULT_LOCK_FILE), "--lockfile", help="Where to write the lock file."
    ),
    json_output: bool = JSON,
) -> None:
    """Solve for each platform and write the exact packages into a lock file."""
    try:
        config = load_config_from_os()
        environment = read_environment_file(file) if file else EnvironmentFile()
        change = _change_request(environment, specs or [], channel, override_channels)
        request = LockRequest(
            specs=change.specs,
            channels=tuple(channels_for(change, config)),
            platforms=tuple(platform) or environment.platforms or (config.subdir,),
            channel_priority=config.channel_priority,
        )
        write_lock(lock_environment(request, config, os.environ, fetch_repodata), lockfile)
        locked = {p: _dist_names(lockfile, p) for p in request.platforms}
    except OphisError as error:
        fail(error, json_output)
    if environment.pip:
        warn([f"The pip dependencies of {file} are not locked: {', '.join(environment.pip)}"])
    _report(lockfile, locked, json_output)


def _change_request(
    environment: EnvironmentFile, specs: list[str], channels: list[str], override_channels: bool
) -> ChangeRequest:
    """The environment file's specs and channels with the command line's (-c first)."""
    all_specs = (*environment.dependencies, *specs)
    if not all_specs:
        raise CondaValueError(
            "Nothing to lock: no package specs were given.",
            "Name packages ('ophis lock numpy') or an environment file ('ophis lock -f "
            "environment.yml').",
        )
    return ChangeRequest(
        "lock",
        Path(),
        specs=all_specs,
        channels=(*channels, *environment.channels),
        override_channels=override_channels,
    )


def _dist_names(path: Path, platform: str) -> list[str]:
    return sorted(dist_name(r) for r in locked_records(path, platform))


def _report(path: Path, locked: dict[str, list[str]], json_output: bool) -> None:
    if json_output:
        emit_json({"success": True, "lockfile": str(path), "platforms": locked})
        return
    for platform, dists in locked.items():
        stdout.print(f"{platform}: {len(dists)} packages", highlight=False)
        for dist in dists:
            stdout.print(f"  {dist}", highlight=False, markup=False)
    stdout.print(f"Wrote {path}", highlight=False, markup=False)
