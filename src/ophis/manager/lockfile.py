"""Lock files in the rattler/pixi format (``pixi.lock``, version 6+): one solve per platform,
written with py-rattler's ``LockFile``; read back into the exact records to install, so
that an environment is reproduced without solving.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import rattler
from rattler import LockFile
from rattler.lock import LockChannel, LockPlatform

from ophis.core.channel import Channel
from ophis.core.errors import OphisError
from ophis.core.platform import detect_machine_facts, parse_subdir
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config
from ophis.manager.records import checked_records
from ophis.manager.solve import SolveRequest, solve
from ophis.manager.specs import spec_name

#: (channels, subdirs, config, names) -> local repodata per (channel URL, subdir)
RepodataFetcher = Callable[
    [list[Channel], tuple[str, ...], Config, set[str]], dict[tuple[str, str], Path]
]
ENVIRONMENT = "default"
DEFAULT_LOCK_FILE = "ophis.lock"


class LockFileError(OphisError):
    exception_name = "LockFileError"


@dataclass(frozen=True)
class LockRequest:
    specs: tuple[str, ...]
    channels: tuple[Channel, ...]
    platforms: tuple[str, ...]
    channel_priority: str = "flexible"


def lock_environment(
    request: LockRequest,
    config: Config,
    env: Mapping[str, str],
    fetch: RepodataFetcher,
) -> LockFile:
    """Solve ``request.specs`` for each platform and put the results in one lock file.
    ``fetch`` is ``ophis.manager.operations.fetch_repodata`` (passed in: operations
    installs from lock files, so this module cannot import it)."""
    platforms = [_lock_platform(p) for p in request.platforms]
    lock = LockFile(platforms)
    lock.set_channels(ENVIRONMENT, [LockChannel(c.base_url) for c in request.channels])
    names = {spec_name(s) for s in request.specs}
    for platform in platforms:
        subdir = platform.name
        solution = solve(
            SolveRequest(
                specs=request.specs,
                channels=request.channels,
                subdir=subdir,
                repodata=fetch(list(request.channels), (subdir, "noarch"), config, names),
                virtual_packages=tuple(
                    detect_virtual_packages(
                        subdir,
                        detect_machine_facts(),
                        env,
                        config_overrides=config.override_virtual_packages,
                    )
                ),
                channel_priority=request.channel_priority,
                add_pip_as_python_dependency=config.add_pip_as_python_dependency,
                action="create",
            )
        )
        for record in solution.final:
            lock.add_conda_package(ENVIRONMENT, platform, record)
    return lock


def _lock_platform(name: str) -> LockPlatform:
    parse_subdir(name)
    try:
        return LockPlatform(name)
    except Exception as error:  # rattler refuses subdirs it does not know (linux-fake, ...)
        raise LockFileError(
            f"The lock file format cannot hold the platform '{name}': {error}",
            "Lock for a platform conda-forge publishes (linux-64, osx-arm64, win-64, ...).",
        ) from None


def write_lock(lock: LockFile, path: Path) -> None:
    lock.to_path(path)


def locked_records(
    path: Path, platform: str, environment: str = ENVIRONMENT
) -> list[rattler.RepoDataRecord]:
    """The records the lock file pins for ``platform``; a clear error when it has none."""
    if not Path(path).is_file():
        raise LockFileError(f"The lock file {path} does not exist.", "Write one with `ophis lock`.")
    try:
        lock = LockFile.from_path(path)
    except Exception as error:
        raise LockFileError(
            f"{path} is not a readable lock file: {error}", "Write it again with `ophis lock`."
        ) from None
    locked = lock.environment(environment)
    if locked is None:
        raise LockFileError(
            f"{path} has no environment named '{environment}'.",
            f"Its environments: {', '.join(name for name, _ in lock.environments()) or 'none'}.",
        )
    platforms = [str(p.name) for p in locked.platforms()]
    if platform not in platforms:
        raise LockFileError(
            f"{path} holds no packages for {platform} (it locks {', '.join(platforms)}).",
            f"Lock this platform too: `ophis lock --platform {platform} ...`.",
        )
    by_platform = locked.conda_repodata_records_for_platform(
        next(p for p in locked.platforms() if str(p.name) == platform)
    )
    return checked_records(by_platform or [])
