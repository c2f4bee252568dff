"""Named environments: where they are, which exist, and what they hold as a file.

conda's rules (``conda/core/envs_manager.py``): the environments are the root prefix, every
folder with a ``conda-meta`` in an ``envs_dirs`` entry, and every prefix listed in
``~/.conda/environments.txt`` that still exists.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ophis.core.atomic_file import write_atomic
from ophis.core.channel import ChannelContext, parse_channel
from ophis.core.errors import (
    CondaEnvException,
    CondaValueError,
    EnvironmentLocationNotFound,
)
from ophis.core.spec_name import spec_name
from ophis.manager.config import Config, home_dir
from ophis.manager.env_vars import UNSET_MARKER, read_env_vars, write_env_vars
from ophis.manager.history import CREATED_AT, requested_specs
from ophis.manager.prefix import CONDA_META, PrefixData
from ophis.manager.records import base_url

if TYPE_CHECKING:  # their YAML reader and pip's metadata: for environment files only
    from ophis.manager.envfile import EnvironmentFile

REGISTRY = Path(".conda") / "environments.txt"


def is_environment(path: Path) -> bool:
    return (path / CONDA_META).is_dir()


def list_environments(config: Config, env: Mapping[str, str]) -> list[Path]:
    found: list[Path] = []
    root = Path(config.root_prefix)
    if is_environment(root):
        found.append(root)
    for envs_dir in config.envs_dirs:
        if Path(envs_dir).is_dir():
            found += sorted(p for p in Path(envs_dir).iterdir() if is_environment(p))
    found += [p for p in _registered(env) if is_environment(p)]
    return list(dict.fromkeys(p.absolute() for p in found))


def register_environment(prefix: Path, config: Config, env: Mapping[str, str]) -> None:
    """conda's ``register_env``: after every transaction the prefix is listed in
    ``~/.conda/environments.txt`` (once), so ``env list`` of conda and Ophis finds
    ``-p`` environments too; ``register_envs: false`` turns it off."""
    if not config.get("register_envs"):
        return
    registry = home_dir(env) / REGISTRY
    location = os.path.normpath(prefix.absolute())
    try:
        old = registry.read_text(encoding="utf-8")
    except FileNotFoundError:
        old = ""
    except OSError:
        return  # conda only warns when the registry cannot be read or written
    if location in (line.strip() for line in old.splitlines()):
        return
    if old and not old.endswith("\n"):
        old += "\n"
    try:
        registry.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(registry, (old + location + "\n").encode("utf-8"))
    except OSError:
        return


def environment_details(
    prefix: Path, config: Config, env: Mapping[str, str]
) -> dict[str, str | bool | None]:
    """conda's ``envs_details`` entry: name (``""`` outside the envs dirs), creation and
    last change (ISO 8601, UTC), whether it is active, the base, frozen (CEP 22) and
    writable."""
    meta = prefix / CONDA_META
    active = env.get("CONDA_PREFIX")
    return {
        "name": environment_name(prefix, config) or "",
        "created": _created(meta),
        "last_modified": _timestamp(meta / "history"),
        "active": bool(active) and Path(active).absolute() == prefix.absolute(),
        "base": prefix.absolute() == Path(config.root_prefix).absolute(),
        "frozen": (meta / "frozen").is_file(),
        "writable": os.access(meta / "history", os.W_OK)
        if (meta / "history").exists()
        else os.access(meta, os.W_OK),
    }


def _created(meta: Path) -> str | None:
    try:
        stamp = float((meta / CREATED_AT).read_text().strip())
    except (OSError, ValueError):
        return None
    return datetime.fromtimestamp(stamp, tz=UTC).isoformat()


def _timestamp(path: Path) -> str | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).isoformat()
    except OSError:
        return None


def unregister_environment(prefix: Path, env: Mapping[str, str]) -> None:
    """conda's ``unregister_env``: a removed environment's line leaves
    ``~/.conda/environments.txt`` (a registry that cannot be written is left as it is)."""
    registry = home_dir(env) / REGISTRY
    location = os.path.normpath(prefix.absolute())
    try:
        lines = registry.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if line.strip() != location]
        if kept != lines:
            write_atomic(registry, "".join(f"{line}\n" for line in kept).encode("utf-8"))
    except OSError:
        return


def _registered(env: Mapping[str, str]) -> list[Path]:
    registry = home_dir(env) / REGISTRY
    try:
        lines = registry.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [Path(line.strip()) for line in lines if line.strip()]


def environment_name(prefix: Path, config: Config) -> str | None:
    """conda's name for a prefix: ``base`` for the root, the folder name inside an envs dir,
    None for an environment elsewhere."""
    prefix = prefix.absolute()
    if prefix == Path(config.root_prefix).absolute():
        return "base"
    if any(prefix.parent == Path(d).absolute() for d in config.envs_dirs):
        return prefix.name
    return None


def export_environment(
    prefix: Path,
    config: Config,
    *,
    from_history: bool = False,
    no_builds: bool = False,
    name: str | None = None,
) -> EnvironmentFile:
    """``conda env export``: the installed packages (``name=version=build``), or with
    ``from_history`` only what was asked for; the channels the packages came from, then
    the configured ones."""
    from ophis.manager.envfile import EnvironmentFile
    from ophis.manager.pip_interop import PYPI_CHANNEL, pip_packages

    records = sorted(PrefixData(prefix).records().values(), key=lambda r: r.name.normalized)
    context = config.channel_context()
    if from_history:
        dependencies = list(
            requested_specs(prefix, installed=[r.name.normalized for r in records]).values()
        )
    else:
        dependencies = [
            f"{r.name.normalized}={r.version}" + ("" if no_builds else f"={r.build}")
            for r in records
        ]
    channels = [_channel_name(base_url(r), context) for r in records] + list(config.channels)
    # conda's export: what pip installed goes under pip: (not with --from-history), and the
    # environment's variables (conda-meta/state) under variables:
    pips = [] if from_history else pip_packages(prefix, records)
    return EnvironmentFile(
        name=name or environment_name(prefix, config) or prefix.name,
        prefix=str(prefix.absolute()),
        channels=tuple(dict.fromkeys(c for c in channels if c)),
        dependencies=tuple(sorted(dependencies)),
        pip=tuple(f"{p.name}=={p.version}" for p in pips if p.channel == PYPI_CHANNEL),
        variables={k: v for k, v in read_env_vars(prefix).items() if v != UNSET_MARKER},
    )


def _channel_name(url: str, context: ChannelContext) -> str:
    channel = parse_channel(url, context)
    return channel.canonical_name


# --- environment files: the steps around the conda transaction --------------------------


def check_env_file_target(
    environment: EnvironmentFile, target: Path, config: Config, action: str, *, replace: bool
) -> None:
    """What must hold before ``env create|update -f`` changes anything."""
    if action == "create" and is_environment(target) and not replace:
        raise CondaValueError(
            f"The environment {target} already exists.",
            "Use 'ophis env update -f FILE' to change it, or add --yes to replace it.",
        )
    if action != "create" and not is_environment(target):
        raise EnvironmentLocationNotFound.at(
            target, "Create it first with 'ophis env create -f FILE'."
        )
    if environment.pip and not _will_have_pip(environment, target, config, action):
        raise CondaValueError(
            "The environment file has a 'pip:' section, but pip would not be installed in "
            f"{target}.",
            "Add 'pip' (or 'python') to the file's dependencies.",
        )


def _will_have_pip(environment: EnvironmentFile, target: Path, config: Config, action: str) -> bool:
    wanted = {spec_name(d) for d in environment.dependencies}
    if action != "create":
        wanted |= set(PrefixData(target).records())
    return "pip" in wanted or ("python" in wanted and config.add_pip_as_python_dependency)


def check_removable(target: Path, config: Config, env: Mapping[str, str]) -> None:
    if not is_environment(target):
        raise EnvironmentLocationNotFound.at(target, "List the environments with 'ophis env list'.")
    if target.absolute() == Path(config.root_prefix).absolute():
        raise CondaValueError(
            "The base environment cannot be removed.", "Remove packages from it instead."
        )
    active = env.get("CONDA_PREFIX")
    if active and Path(active).absolute() == target.absolute():
        raise CondaValueError(
            "Cannot remove the current environment.", "Deactivate it first and run again."
        )


def finish_env_file(
    environment: EnvironmentFile, target: Path, file_dir: Path, *, quiet: bool
) -> list[str] | None:
    """After the conda packages: the ``pip:`` requirements with the environment's own pip
    (run from the file's folder, so that ``-e .`` means what it says), then ``variables:``.
    Returns what pip says it installed (``name-version``, conda's ``PIP`` action) when its
    output was captured (``quiet``) and it installed something."""
    installed = _pip_install(target, environment.pip, file_dir, quiet) if environment.pip else None
    if environment.variables:
        write_env_vars(target, {**read_env_vars(target), **environment.variables})
    return installed


def _pip_install(
    target: Path, requirements: tuple[str, ...], cwd: Path, quiet: bool
) -> list[str] | None:
    python = target / ("python.exe" if os.name == "nt" else "bin/python")
    if not python.exists():
        raise CondaValueError(
            f"There is no python in {target} to run pip with.",
            "Add python and pip to the file's dependencies.",
        )
    with tempfile.TemporaryDirectory(prefix="ophis-pip-") as folder:
        listing = Path(folder) / "requirements.txt"
        listing.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        command = [str(python), "-m", "pip", "install", "-U", "-r", str(listing)]
        result = subprocess.run(
            command,
            cwd=cwd,
            capture_output=quiet,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        detail = (result.stderr or "").strip().splitlines()[-1:] if quiet else []
        raise PipInstallError(
            "pip failed to install the file's 'pip:' requirements"
            + (f": {detail[0]}" if detail else " (see its output above)."),
            "Fix the requirements and run 'ophis env update -f FILE'; the conda packages are "
            "installed.",
        )
    return _pip_installed(result.stdout or "")


def _pip_installed(output: str) -> list[str] | None:
    """The packages of pip's ``Successfully installed a-1.0 b-2.0`` line, if it printed one."""
    for line in output.splitlines():
        if line.startswith("Successfully installed "):
            return line.removeprefix("Successfully installed ").split()
    return None


class PipInstallError(CondaEnvException):
    """The pip step of an environment file failed."""


def prune_candidates(target: Path, environment: EnvironmentFile, config: Config) -> list[str]:
    """Installed packages that neither the file's specs nor their dependencies need."""
    records = PrefixData(target).records()
    needed: set[str] = set()
    queue = [spec_name(d) for d in environment.dependencies]
    if environment.pip:
        queue.append("pip")
    while queue:
        name = queue.pop()
        if name in needed or name not in records:
            continue
        needed.add(name)
        queue += [spec_name(d) for d in records[name].depends]
        if name == "python" and config.add_pip_as_python_dependency:
            queue.append("pip")
    return sorted(set(records) - needed)
