"""The package manager's verbs as services: create, install, update and remove.

Each takes a :class:`ChangeRequest` and the loaded configuration, walks the data's path —
channels → repodata → solve → plan → transaction — and returns what was (or, for a dry
run, would be) done. The CLI only parses arguments and renders the outcome.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ophis.client.auth import with_stored_tokens
from ophis.client.repodata_cache import FetchOptions, Subdir, fetch_all
from ophis.core.channel import Channel, expand_channels, split_channel_and_spec
from ophis.core.errors import (
    CondaValueError,
    EnvironmentLocationNotFound,
)
from ophis.core.platform import detect_machine_facts
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config
from ophis.manager.history import requested_specs, state_at
from ophis.manager.prefix import PrefixData
from ophis.manager.records import base_url, dist_name
from ophis.manager.solve import SolveRequest, SolveResult, solve, toposort
from ophis.manager.specs import spec_name
from ophis.manager.transaction import (
    TransactionPlan,
    TransactionReport,
    execute,
    prepare,
    recover,
)

Progress = Callable[[str, int, int], None]
#: asked with the pre-link messages before linking; False leaves the environment as it was
Confirm = Callable[[list[str]], bool]


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


@dataclass
class ChangeOutcome:
    prefix: Path
    channels: list[Channel]
    solution: SolveResult | None = None  #: None when there was nothing to do
    report: TransactionReport | None = None
    dry_run: bool = False
    recovered: bool = False  #: an interrupted transaction was rolled back first
    declined: bool = False  #: the user said no to the pre-link messages: nothing changed


def plan_change(request: ChangeRequest, config: Config, env: Mapping[str, str]) -> ChangeOutcome:
    """Solve the request; nothing on disk changes (but a crashed transaction is recovered)."""
    _check_target(request)
    recovered = recover(request.prefix) if request.prefix.exists() else False
    installed = _installed(request)
    revision_specs = _revision_specs(request) if request.revision is not None else None
    if request.action == "remove":  # nothing to download: channels only name the records
        channels = _channels_of(installed, config)
        repodata: dict[tuple[str, str], Path] = {}
    else:
        # a revision's packages come back from where they came from, unless told otherwise
        fallback = _channels_of(installed, config) if revision_specs is not None else []
        channels = channels_for(request, config, fallback)
        specs = revision_specs if revision_specs is not None else request.specs
        names = {spec_name(s) for s in (*specs, *config.pinned_packages)}
        names |= {r.name.normalized for r in installed}
        if config.add_pip_as_python_dependency:
            names.add("pip")  # the solver adds it to python's dependencies itself
        repodata = fetch_repodata(channels, (config.subdir, "noarch"), config, names)
    if revision_specs is not None:
        solution = _solve_revision(revision_specs, config, channels, repodata, installed)
    else:
        solution = _solve(request, config, env, channels, repodata, installed)
    outcome = ChangeOutcome(request.prefix, channels, dry_run=request.dry_run, recovered=recovered)
    if solution.link or solution.unlink or request.action == "create":
        outcome.solution = solution
    return outcome


def _solve(
    request: ChangeRequest,
    config: Config,
    env: Mapping[str, str],
    channels: list[Channel],
    repodata: dict[tuple[str, str], Path],
    installed: list,
) -> SolveResult:
    return solve(
        SolveRequest(
            specs=request.specs,
            channels=tuple(channels),
            subdir=config.subdir,
            repodata=repodata,
            installed=tuple(installed),
            history_specs=requested_specs(request.prefix) if installed else {},
            virtual_packages=tuple(
                detect_virtual_packages(config.subdir, detect_machine_facts(), env)
            ),
            channel_priority=request.channel_priority or config.channel_priority,
            update_modifier=request.update_modifier or config.update_modifier,
            action=request.action,
            no_deps=request.no_deps,
            only_deps=request.only_deps,
            force_reinstall=request.force_reinstall,
            force_remove=request.force,
            add_pip_as_python_dependency=config.add_pip_as_python_dependency,
            pinned=tuple(config.pinned_packages),
            aggressive_update_packages=tuple(config.aggressive_update_packages),
        )
    )


def _revision_specs(request: ChangeRequest) -> tuple[str, ...]:
    """The exact specs of the packages installed at revision N."""
    dists = sorted(d.split("::", 1)[-1] for d in state_at(request.prefix, request.revision))
    return tuple("{}=={}={}".format(*dist.rsplit("-", 2)) for dist in dists)


def _solve_revision(
    specs: tuple[str, ...],
    config: Config,
    channels: list[Channel],
    repodata: dict[tuple[str, str], Path],
    installed: list,
) -> SolveResult:
    """conda's ``install --revision N``: exactly the packages of that revision, back from the
    channels (or the package cache); what came later is removed."""
    target = solve(
        SolveRequest(
            specs=specs,
            channels=tuple(channels),
            subdir=config.subdir,
            repodata=repodata,
            action="create",
            channel_priority="disabled",  # the revision names its builds; take them anywhere
            add_pip_as_python_dependency=False,
            no_deps=True,
        )
    )
    have = {dist_name(r): r for r in installed}
    want = {dist_name(r): r for r in target.final}
    final = tuple(have.get(name, record) for name, record in want.items())
    link = tuple(toposort(r for name, r in want.items() if name not in have))
    unlink = tuple(reversed(toposort(r for name, r in have.items() if name not in want)))
    return SolveResult(final=final, link=link, unlink=unlink, update_specs=(), remove_specs=())


def apply_change(
    request: ChangeRequest,
    outcome: ChangeOutcome,
    config: Config,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
) -> ChangeOutcome:
    """Carry out a planned change: download, link, scripts, history.

    When the packages to link carry pre-link messages, ``confirm`` is called with them
    after the download and before the environment is touched, as conda asks; if it says
    no, nothing changes and ``outcome.declined`` is set.
    """
    solution = outcome.solution
    if solution is None or request.dry_run:
        return outcome
    plan = TransactionPlan(
        prefix=request.prefix,
        link=solution.link,
        unlink=solution.unlink,
        final=solution.final,
        update_specs=solution.update_specs,
        remove_specs=solution.remove_specs,
        cmd=request.argv,
    )
    pkgs_dirs = [Path(p) for p in config.pkgs_dirs]
    rewrites = _credentialed_urls(outcome.channels, config.subdir)
    messages = prepare(plan, pkgs_dirs=pkgs_dirs, progress=progress, url_rewrites=rewrites)
    if messages and confirm is not None and not confirm(messages):
        outcome.declined = True
        return outcome
    if request.action == "create":
        _clear_existing(request.prefix)
    outcome.report = execute(plan, pkgs_dirs=pkgs_dirs, progress=progress, url_rewrites=rewrites)
    return outcome


def _credentialed_urls(channels: list[Channel], subdir: str) -> dict[str, str]:
    """Clean subdir URL -> the same with the channel's token or login, for downloads."""
    return {
        channel.url(s) + "/": channel.url(s, with_token=True, with_auth=True) + "/"
        for channel in channels
        if channel.token or channel.auth
        for s in (subdir, "noarch")
    }


def channels_for(
    request: ChangeRequest, config: Config, fallback: list[Channel] | None = None
) -> list[Channel]:
    """-c channels first, then ``channel::spec`` channels, then the configured ones; the
    ``fallback`` channels when none of those name any."""
    from_specs = [c for c, _ in map(split_channel_and_spec, request.specs) if c]
    if request.override_channels and not config.override_channels_enabled:
        raise CondaValueError(
            "--override-channels is disabled by 'override_channels_enabled: false'.",
            "Remove that setting from your .condarc to use --override-channels.",
        )
    configured = () if request.override_channels else tuple(config.channels)
    names = [*request.channels, *from_specs, *configured]
    if not names and fallback:
        return fallback
    if not names:
        because = (
            "--override-channels was given without -c"
            if request.override_channels
            else "no channels are configured"
        )
        raise CondaValueError(
            f"No channels to search: {because}.",
            "Add -c CHANNEL to the command (for example -c conda-forge), or configure one "
            "with 'ophis config --add channels conda-forge'.",
        )
    channels = expand_channels(names, config.channel_context())
    if config.get("add_anaconda_token"):
        channels = with_stored_tokens(channels, os.environ)
    return channels


def _channels_of(records: list, config: Config) -> list[Channel]:
    urls = dict.fromkeys(base_url(r) for r in records)
    return expand_channels(list(urls), config.channel_context()) if urls else []


def fetch_repodata(
    channels: list[Channel],
    subdirs: tuple[str, ...],
    config: Config,
    names: set[str] | None = None,
) -> dict[tuple[str, str], Path]:
    """Local repodata per (channel, subdir). With ``names``, sharded channels are read only
    as far as those packages and their dependencies reach."""
    fetched: list[Subdir] = fetch_all(
        channels,
        subdirs,
        FetchOptions(
            cache_dir=Path(config.pkgs_dirs[0]) / "cache",
            ttl_seconds=float(config.local_repodata_ttl),
            offline=config.offline,
        ),
        names,
    )
    return {(s.channel.base_url, s.subdir): s.path for s in fetched if s.path is not None}


def _check_target(request: ChangeRequest) -> None:
    if request.action != "create" and not PrefixData(request.prefix).is_environment():
        raise EnvironmentLocationNotFound(
            f"Not a conda environment: {request.prefix}",
            "Create it first with 'ophis create -p PATH' or 'ophis create -n NAME', "
            "or name an existing one (see 'ophis env list').",
        )


def _installed(request: ChangeRequest) -> list:
    if request.action == "create" or not request.prefix.exists():
        return []
    return list(PrefixData(request.prefix).records().values())


def _clear_existing(prefix: Path) -> None:
    """``create`` over an existing environment replaces it, as conda does after asking."""
    if prefix.exists() and (prefix / "conda-meta").is_dir():
        shutil.rmtree(prefix)
    prefix.mkdir(parents=True, exist_ok=True)


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
    raise EnvironmentLocationNotFound(
        f"Could not find an environment named '{name}'.",
        "See the environments with 'ophis env list', or create it with 'ophis create -n NAME'.",
    )
