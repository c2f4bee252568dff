"""conda's ``compare`` (an environment against an environment file) and ``rename`` (a
clone under the new name, then the old one removed, so that paths inside files follow)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import rattler

from ophis.core.errors import CondaEnvException, OphisError
from ophis.manager.activation import SHELLS, Activator, default_activation_env
from ophis.manager.config import Config
from ophis.manager.envfile import EnvironmentFile
from ophis.manager.environments import is_environment
from ophis.manager.pip_interop import pip_packages
from ophis.manager.prefix import PrefixData
from ophis.manager.targets import ChangeRequest


def compare_environment(prefix: Path, environment: EnvironmentFile) -> tuple[bool, list[str]]:
    """Whether every package the file asks for (conda's and pip's) is installed as asked;
    conda's lines: a success sentence, or one line per missing or mismatched package."""
    installed = PrefixData(prefix).records()
    records: dict[str, rattler.PackageRecord] = dict(installed)
    records |= {p.name: p.to_record() for p in pip_packages(prefix, installed.values())}
    problems = []
    for text in (*environment.dependencies, *environment.pip):
        spec = rattler.MatchSpec(text, strict=False)
        name = spec.name.normalized if spec.name else text
        record = records.get(name)
        if record is None:
            problems.append(f"{name} not found")
        elif not spec.matches(record):
            running = f"{name}=={record.version}={record.build}"
            problems.append(
                f"{name} found but mismatch. Specification pkg: {text}, Running pkg: {running}"
            )
    if problems:
        return False, problems
    return True, [
        "Success. All the packages in the specification file are present in the environment "
        "with matching version and build string."
    ]


def check_rename(
    source: Path, destination: Path, config: Config, env: Mapping[str, str], *, force: bool
) -> None:
    """conda's refusals, before anything changes."""
    if not is_environment(source):
        raise CondaEnvException(
            f"Not a conda environment: {source}", "List the environments with 'ophis env list'."
        )
    if source.absolute() == Path(config.root_prefix).absolute():
        raise CondaEnvException(
            "The 'base' environment cannot be renamed",
            "Clone it: ophis create --clone base -n NEW.",
        )
    active = env.get("CONDA_PREFIX")
    if active and Path(active).absolute() == source.absolute():
        raise CondaEnvException(
            "Cannot rename the active environment", "Deactivate it first and run again."
        )
    if source.absolute() == _default_activation_prefix(config):
        raise CondaEnvException(
            "Cannot rename an environment if it is configured as `default_activation_env`.",
            "Change default_activation_env first.",
        )
    if destination.exists() and not force:
        raise CondaEnvException(
            f"The environment '{destination}' already exists. Override with --yes.",
            "Choose another name, or pass --yes to replace it.",
        )


def _default_activation_prefix(config: Config) -> Path | None:
    try:
        located = Activator(config, {}, SHELLS["posix"]).locate(default_activation_env(config))
    except OphisError:
        return None
    return Path(located).absolute()


def rename_environment(
    source: Path, destination: Path, config: Config, argv: tuple[str, ...]
) -> None:
    """Clone ``source`` into ``destination`` (replacing it), then remove ``source``."""
    from ophis.manager.operations import apply_change, plan_clone  # 'compare' needs neither

    request = ChangeRequest(action="create", prefix=destination, argv=argv)
    apply_change(request, plan_clone(request, source, config), config)
    shutil.rmtree(source)
