"""Named environments: where they are, which exist, and what they hold as a file.

conda's rules (``conda/core/envs_manager.py``): the environments are the root prefix, every
folder with a ``conda-meta`` in an ``envs_dirs`` entry, and every prefix listed in
``~/.conda/environments.txt`` that still exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ophis.core.channel import ChannelContext, parse_channel
from ophis.manager.config import Config, home_dir
from ophis.manager.envfile import EnvironmentFile
from ophis.manager.history import requested_specs
from ophis.manager.prefix import CONDA_META, PrefixData
from ophis.manager.records import base_url

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
    return EnvironmentFile(
        name=name or environment_name(prefix, config) or prefix.name,
        prefix=str(prefix.absolute()),
        channels=tuple(dict.fromkeys(c for c in channels if c)),
        dependencies=tuple(sorted(dependencies)),
    )


def _channel_name(url: str, context: ChannelContext) -> str:
    channel = parse_channel(url, context)
    return channel.canonical_name
