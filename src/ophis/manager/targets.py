"""Where a command points: the environment (``-n NAME`` / ``-p PATH``) and the channels.

Kept apart from :mod:`ophis.manager.operations` so that the commands that only read an
environment (``list``, ``info``, ``env list``, ``run``) need neither the solver nor the
transaction code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ophis.client.auth import with_stored_tokens
from ophis.core.channel import Channel, expand_channels, split_channel_and_spec
from ophis.core.errors import (
    ArgumentError,
    CondaValueError,
    EnvironmentLocationNotFound,
    EnvironmentNameNotFound,
    NoChannelsConfiguredError,
    OperationNotAllowed,
)
from ophis.manager.config import Config
from ophis.manager.prefix import PrefixData
from ophis.manager.specs import spec_name


@dataclass(frozen=True)
class ChangeRequest:
    action: str  #: "create" | "install" | "update" | "remove"
    prefix: Path
    specs: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()  #: -c values, highest priority first
    override_channels: bool = False
    channel_priority: str | None = None  #: None: from the configuration
    dry_run: bool = False
    no_deps: bool = False
    only_deps: bool = False
    update_modifier: str | None = None
    force_reinstall: bool = False
    force: bool = False
    revision: int | None = None  #: install --revision N: go back to that history state
    argv: tuple[str, ...] = ()
    ignore_pinned: bool = False  #: --no-pin: neither pinned_packages nor conda-meta/pinned


def channels_for(
    request: ChangeRequest, config: Config, fallback: list[Channel] | None = None
) -> list[Channel]:
    """-c channels first, then ``channel::spec`` channels, then the configured ones; the
    ``fallback`` channels when none of those name any."""
    from_specs = [c for c, _ in map(split_channel_and_spec, request.specs) if c]
    if request.override_channels and not config.override_channels_enabled:
        raise OperationNotAllowed(
            "Overriding channels has been disabled ('override_channels_enabled: false').",
            "Remove that setting from your .condarc to use --override-channels.",
        )
    if request.override_channels and not request.channels:  # conda's context.channels
        raise ArgumentError(
            "At least one -c / --channel flag must be supplied when using --override-channels.",
            "Name the channels to search with -c CHANNEL, or drop --override-channels.",
        )
    configured = () if request.override_channels else tuple(config.channels)
    names = [*request.channels, *from_specs, *configured]
    if not names and fallback:
        return fallback
    if not names:
        raise NoChannelsConfiguredError([spec_name(s) for s in request.specs])
    channels = expand_channels(names, config.channel_context())
    if config.get("add_anaconda_token"):
        channels = with_stored_tokens(channels, os.environ)
    return channels


def resolve_prefix(
    name: str | None, prefix: str | None, config: Config, env: Mapping[str, str], *, creating: bool
) -> Path:
    """Where ``-n NAME`` / ``-p PATH`` (or the active environment) points, as conda decides."""
    if name and prefix:
        raise CondaValueError(
            "Both -n/--name and -p/--prefix were given.", "Use one of them to name the environment."
        )
    if prefix:
        return Path(prefix).expanduser().absolute()
    if name:
        return _prefix_for_name(name, config, creating=creating)
    if creating:
        raise CondaValueError(
            "The target environment has not been named.",
            "Use -n NAME or -p PATH, e.g. 'ophis create -n myenv python'.",
        )
    active = env.get("CONDA_PREFIX")
    return Path(active) if active else Path(config.root_prefix)


def existing_prefix(
    name: str | None, prefix: str | None, config: Config, env: Mapping[str, str]
) -> Path:
    """:func:`resolve_prefix` for commands that read or repair an environment: it must exist."""
    target = resolve_prefix(name, prefix, config, env, creating=False)
    if not PrefixData(target).is_environment():
        raise EnvironmentLocationNotFound.at(target, "Name an existing environment.")
    return target


def _prefix_for_name(name: str, config: Config, *, creating: bool) -> Path:
    if name in ("base", "root"):
        return Path(config.root_prefix)
    if "/" in name or os.sep in name or name.strip() != name or not name:
        raise CondaValueError(
            f"Invalid environment name '{name}': names cannot contain '/' or spaces.",
            "Pick a simple name, or use -p PATH for a path.",
        )
    for envs_dir in config.envs_dirs:
        candidate = Path(envs_dir) / name
        if (candidate / "conda-meta").is_dir():
            return candidate
    if creating:
        return Path(config.envs_dirs[0]) / name
    raise EnvironmentNameNotFound(
        name,
        "See the environments with 'ophis env list', or create it with 'ophis create -n NAME'.",
    )
