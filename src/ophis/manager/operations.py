"""The package manager's verbs as services: create, install, update and remove.

Each takes a :class:`ChangeRequest` and the loaded configuration, walks the data's path —
channels → repodata → solve → plan → transaction — and returns what was (or, for a dry
run, would be) done. Exact installs (@EXPLICIT files, lock files, clones) skip the solve:
:func:`plan_records` turns the records into the same plan. Either way :func:`apply_change`
carries it out. The CLI only parses arguments and renders the outcome.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import rattler

from ophis.client.repodata_cache import FetchOptions, Subdir, fetch_all
from ophis.core.channel import Channel, expand_channels, split_channel_and_spec
from ophis.core.errors import (
    CondaValueError,
    EnvironmentLocationNotFound,
    OphisError,
)
from ophis.core.platform import detect_machine_facts, probes_needed
from ophis.core.virtual_packages import detect_virtual_packages
from ophis.manager.config import Config
from ophis.manager.create_options import SKIP_SOLVE, remember_subdir, satisfied
from ophis.manager.download import is_cached
from ophis.manager.explicit import (
    MARKER,
    ExplicitFile,
    ExplicitPackage,
    is_explicit,
    parse_explicit,
)
from ophis.manager.history import CONDA_COMPAT_VERSION, record_spec, requested_specs, state_at
from ophis.manager.pins import pinned_specs
from ophis.manager.prefix import PrefixData
from ophis.manager.records import base_url, dist_name
from ophis.manager.safety import (
    LinkScripts,
    check_extracted,
    find_link_scripts,
    refuse_link_scripts,
)
from ophis.manager.signature_policy import SignaturePolicy, policy_for
from ophis.manager.solve import SolveRequest, SolveResult, solve, toposort
from ophis.manager.specs import parse_spec, spec_name
from ophis.manager.targets import ChangeRequest, channels_for
from ophis.manager.transaction import (
    TransactionPlan,
    TransactionReport,
    execute,
    prepare,
    recover,
)

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
#: asked with the pre-link messages before linking; False leaves the environment as it was
Confirm = Callable[[list[str]], bool]


class PlanStages(Protocol):
    """What a front end shows while a change is planned (conda's "Collecting package
    metadata" and "Solving environment"); each stage is entered and left, or fails."""

    def collecting(
        self, channels: list[Channel], subdir: str
    ) -> AbstractContextManager[object]: ...

    def solving(self) -> AbstractContextManager[object]: ...


class _Unseen:
    def collecting(self, channels: list[Channel], subdir: str) -> AbstractContextManager[object]:
        return nullcontext()

    def solving(self) -> AbstractContextManager[object]:
        return nullcontext()


@dataclass
class ChangeOutcome:
    prefix: Path
    channels: list[Channel]
    solution: SolveResult | None = None  #: None when there was nothing to do
    report: TransactionReport | None = None
    dry_run: bool = False
    recovered: bool = False  #: an interrupted transaction was rolled back first
    declined: bool = False  #: the user said no to the pre-link messages: nothing changed
    #: installed records that could not be read and were skipped (PrefixData's warnings)
    warnings: list[str] = field(default_factory=list)
    #: create --clone: the source environment, and its files no package owns (copied too)
    clone_source: Path | None = None
    untracked: list[str] = field(default_factory=list)
    #: the packages to link that are not in the package cache yet (conda's FETCH)
    fetch: list[rattler.RepoDataRecord] = field(default_factory=list)
    #: the link scripts the change would run (after planning: those of packages already
    #: in the package cache; after :func:`prepare_change`: all of them)
    link_scripts: LinkScripts = field(default_factory=LinkScripts)
    #: the packages' pre-link messages, once :func:`prepare_change` has filled the cache
    prelink_messages: list[str] | None = None


class EnvironmentFileTypeMismatchError(CondaValueError):
    """``--file`` given both @EXPLICIT files and files of specs (conda >= 25.7 refuses it)."""

    exception_name = "EnvironmentFileTypeMismatchError"


class TooManyArgumentsError(CondaValueError):
    exception_name = "TooManyArgumentsError"


@dataclass(frozen=True)
class SpecFiles:
    """What ``--file`` arguments hold: specs, or (from @EXPLICIT files) exact packages."""

    specs: tuple[str, ...] = ()
    explicit: ExplicitFile | None = None


def plan_change(
    request: ChangeRequest,
    config: Config,
    env: Mapping[str, str],
    stages: PlanStages | None = None,
) -> ChangeOutcome:
    """Solve the request; nothing on disk changes (but a crashed transaction is recovered).
    ``stages`` is told when the metadata is collected and when the solver runs."""
    stages = stages or _Unseen()
    _check_target(request)
    recovered = recover(request.prefix) if request.prefix.exists() else False
    installed, warnings = _installed(request)
    if request.update_modifier == SKIP_SOLVE:
        if satisfied(request.specs, installed):  # conda's -S: no solve at all
            return ChangeOutcome(request.prefix, [], dry_run=request.dry_run, warnings=warnings)
        request = replace(request, update_modifier=None)
    revision_specs = _revision_specs(request) if request.revision is not None else None
    pins = _pins(request, config) if request.action != "remove" else ()
    if request.action == "remove":  # nothing to download: channels only name the records
        channels = _channels_of(installed, config)
        repodata: dict[tuple[str, str], Path] = {}
        with stages.collecting(channels, config.subdir):
            pass  # conda reports the stage for a removal too
    else:
        # a revision's packages come back from where they came from, unless told otherwise
        fallback = _channels_of(installed, config) if revision_specs is not None else []
        channels = channels_for(request, config, fallback)
        specs = revision_specs if revision_specs is not None else request.specs
        names = {spec_name(s) for s in (*specs, *pins)}
        names |= {r.name.normalized for r in installed}
        if config.add_pip_as_python_dependency:
            names.add("pip")  # the solver adds it to python's dependencies itself
        with stages.collecting(channels, config.subdir):
            repodata = fetch_repodata(channels, (config.subdir, "noarch"), config, names)
    with stages.solving():
        if revision_specs is not None:
            solution = _solve_revision(revision_specs, config, channels, repodata, installed)
        else:
            solution = _solve(request, config, env, channels, repodata, installed, pins)
    log.info(
        "solved %s in %s: %d to link, %d to unlink",
        ", ".join(request.specs) or "the environment",
        request.prefix,
        len(solution.link),
        len(solution.unlink),
    )
    # signed channels: every package to link against its signed record, before any download
    _verify(solution.link, channels, repodata, policy_for(config, channels))
    return _outcome(request, channels, solution, recovered, warnings, config)


def _pins(request: ChangeRequest, config: Config) -> tuple[str, ...]:
    """conda's pinned specs; ``create`` replaces the environment, so only the configured
    ones apply to it (conda removes an existing environment before it solves)."""
    ignore = request.ignore_pinned or bool(config.get("ignore_pinned"))
    if request.action == "create":
        return () if ignore else tuple(config.pinned_packages)
    return pinned_specs(request.prefix, config.pinned_packages, ignore=ignore)


def _outcome(
    request: ChangeRequest,
    channels: list[Channel],
    solution: SolveResult,
    recovered: bool,
    warnings: list[str],
    config: Config,
) -> ChangeOutcome:
    outcome = ChangeOutcome(
        request.prefix,
        channels,
        dry_run=request.dry_run,
        recovered=recovered,
        warnings=[*warnings, *solution.warnings],
    )
    if solution.link or solution.unlink or request.action == "create":
        outcome.solution = solution
        caches = [Path(p) for p in config.pkgs_dirs]
        outcome.fetch = [
            r for r in solution.link if not any(is_cached(r, cache) for cache in caches)
        ]
        outcome.link_scripts = _link_scripts(solution, request.prefix, config)
        # the scripts known already (packages in the cache, pre-unlink in the prefix) are
        # refused at once, so that a dry run says so too
        refuse_link_scripts(outcome.link_scripts, config.get("ophis_link_scripts"))
    return outcome


def _link_scripts(solution: SolveResult, prefix: Path, config: Config) -> LinkScripts:
    cache_dir = Path(config.pkgs_dirs[0])
    return find_link_scripts(solution.link, solution.unlink, cache_dir=cache_dir, prefix=prefix)


def _solve(
    request: ChangeRequest,
    config: Config,
    env: Mapping[str, str],
    channels: list[Channel],
    repodata: dict[tuple[str, str], Path],
    installed: list,
    pins: tuple[str, ...],
) -> SolveResult:
    return solve(
        SolveRequest(
            specs=request.specs,
            channels=tuple(channels),
            subdir=config.subdir,
            repodata=repodata,
            installed=tuple(installed),
            history_specs=_history_specs(request.prefix, channels) if installed else {},
            virtual_packages=tuple(
                detect_virtual_packages(
                    config.subdir,
                    detect_machine_facts(**probes_needed(env)),
                    env,
                    conda_version=CONDA_COMPAT_VERSION,
                )
            ),
            channel_priority=request.channel_priority or config.channel_priority,
            update_modifier=request.update_modifier or config.update_modifier,
            action=request.action,
            no_deps=request.no_deps,
            only_deps=request.only_deps,
            force_reinstall=request.force_reinstall,
            force_remove=request.force,
            add_pip_as_python_dependency=config.add_pip_as_python_dependency,
            pinned=pins,
            solver=config.solver,
            aggressive_update_packages=tuple(config.aggressive_update_packages),
            track_features=tuple(config.track_features),
            prefix=str(request.prefix),
        )
    )


def _history_specs(prefix: Path, channels: list[Channel]) -> dict[str, str]:
    """The specs asked for before; one naming a channel this request does not search keeps
    only its package part (an explicit install records ``channel/subdir::name==v=b``): the
    installed record stays through locking, as conda keeps it from the prefix's own index."""
    known = {n.rstrip("/") for c in channels for n in (c.name, c.canonical_name, c.base_url)}
    return {
        name: text if _searched(text, known) else split_channel_and_spec(text)[1]
        for name, text in requested_specs(prefix).items()
    }


def _searched(spec: str, channels: set[str]) -> bool:
    try:
        channel = parse_spec(spec).channel
    except OphisError:
        return True  # left as it is, for the solver to report
    return channel is None or channel.rstrip("/") in channels


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


def prepare_change(
    request: ChangeRequest,
    outcome: ChangeOutcome,
    config: Config,
    progress: Progress | None = None,
) -> ChangeOutcome:
    """Everything before the prefix is touched: put the packages into the package cache,
    run the safety checks on them (``safety_checks``; warnings go to ``outcome.warnings``),
    list the link scripts the change would run and refuse them when
    ``ophis_link_scripts`` is ``refuse``. Raises SafetyError, CondaVerificationError or
    LinkScriptsRefusedError; nothing in the environment has changed then."""
    solution = outcome.solution
    if solution is None or request.dry_run or outcome.prelink_messages is not None:
        return outcome
    plan = _transaction_plan(request, solution, config)
    pkgs_dirs = [Path(p) for p in config.pkgs_dirs]
    rewrites = credentialed_urls(outcome.channels, config.subdir)
    messages = prepare(plan, pkgs_dirs=pkgs_dirs, progress=progress, url_rewrites=rewrites)
    outcome.warnings += check_extracted(
        plan.link,
        pkgs_dirs[0],
        level=config.safety_checks,
        extra=config.extra_safety_checks,
    )
    outcome.link_scripts = _link_scripts(solution, request.prefix, config)
    refuse_link_scripts(outcome.link_scripts, config.get("ophis_link_scripts"))
    outcome.prelink_messages = messages
    return outcome


def _transaction_plan(
    request: ChangeRequest, solution: SolveResult, config: Config
) -> TransactionPlan:
    return TransactionPlan(
        prefix=request.prefix,
        link=solution.link,
        unlink=solution.unlink,
        final=solution.final,
        update_specs=solution.update_specs,
        remove_specs=solution.remove_specs,
        cmd=request.argv,
        copy=config.always_copy,
        subdir=config.subdir,
        ssl_verify=tls_verify(config),
    )


def apply_change(
    request: ChangeRequest,
    outcome: ChangeOutcome,
    config: Config,
    progress: Progress | None = None,
    confirm: Confirm | None = None,
) -> ChangeOutcome:
    """Carry out a planned change: :func:`prepare_change` (unless done), link, scripts,
    history.

    When the packages to link carry pre-link messages, ``confirm`` is called with them
    after the download and before the environment is touched, as conda asks; if it says
    no, nothing changes and ``outcome.declined`` is set.
    """
    solution = outcome.solution
    if solution is None or request.dry_run:
        return outcome
    outcome = prepare_change(request, outcome, config, progress)
    messages = outcome.prelink_messages
    plan = _transaction_plan(request, solution, config)
    pkgs_dirs = [Path(p) for p in config.pkgs_dirs]
    rewrites = credentialed_urls(outcome.channels, config.subdir)
    if messages and confirm is not None and not confirm(messages):
        outcome.declined = True
        return outcome
    if request.action == "create":
        _clear_existing(request.prefix)
    outcome.report = execute(plan, pkgs_dirs=pkgs_dirs, progress=progress, url_rewrites=rewrites)
    if request.action == "create":
        remember_subdir(request.prefix, config.subdir)
    from ophis.manager.environments import register_environment  # not needed to plan

    register_environment(Path(request.prefix), config, os.environ)
    if outcome.clone_source is not None:
        copy_untracked(outcome.clone_source, request.prefix, outcome.untracked)
    return outcome


def credentialed_urls(channels: list[Channel], subdir: str) -> dict[str, str]:
    """Clean subdir URL -> the same with the channel's token or login, for downloads."""
    return {
        channel.url(s) + "/": channel.url(s, with_token=True, with_auth=True) + "/"
        for channel in channels
        if channel.token or channel.auth
        for s in (subdir, "noarch")
    }


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
    if policy_for(config, channels).active:
        names = None  # shards carry no signatures: checked channels are read whole
    fetched: list[Subdir] = fetch_all(
        channels,
        subdirs,
        FetchOptions(
            cache_dir=Path(config.pkgs_dirs[0]) / "cache",
            ttl_seconds=_repodata_ttl(config),
            offline=config.offline,
            verify=tls_verify(config),
        ),
        names,
    )
    return {(s.channel.base_url, s.subdir): s.path for s in fetched if s.path is not None}


def _repodata_ttl(config: Config) -> float:
    """-C/--use-index-cache: what is cached is used, however old."""
    return math.inf if config.get("use_index_cache") else float(config.local_repodata_ttl)


def tls_verify(config: Config) -> bool | str:
    """conda's ssl_verify for httpx: a bool or a CA bundle ('truststore': the defaults)."""
    return True if config.ssl_verify == "truststore" else config.ssl_verify


def _check_target(request: ChangeRequest) -> None:
    if request.action != "create" and not PrefixData(request.prefix).is_environment():
        raise EnvironmentLocationNotFound.at(
            request.prefix,
            "Create it first with 'ophis create -p PATH' or 'ophis create -n NAME', "
            "or name an existing one (see 'ophis env list').",
        )


def _installed(request: ChangeRequest) -> tuple[list[rattler.PrefixRecord], list[str]]:
    """The installed records, and warnings about the record files that could not be read."""
    if request.action == "create" or not request.prefix.exists():
        return [], []
    data = PrefixData(request.prefix)
    return list(data.records().values()), list(data.warnings)


def _clear_existing(prefix: Path) -> None:
    """``create`` over an existing environment replaces it, as conda does after asking."""
    if prefix.exists() and (prefix / "conda-meta").is_dir():
        shutil.rmtree(prefix)
    prefix.mkdir(parents=True, exist_ok=True)


# --- exact records, without solving: @EXPLICIT files, lock files, clones -------------------


def read_spec_files(paths: Sequence[Path]) -> SpecFiles:
    """The contents of ``--file`` arguments: specs, or the packages of @EXPLICIT files. Both
    kinds at once are refused, with conda's EnvironmentFileTypeMismatchError."""
    kinds: dict[Path, str] = {}
    specs: list[str] = []
    packages: list[ExplicitPackage] = []
    platform = None
    for path in paths:
        text = _read_spec_file(path)
        if is_explicit(text):
            kinds[path] = "explicit"
            parsed = parse_explicit(text, str(path))
            packages += parsed.packages
            platform = platform or parsed.platform
        else:
            kinds[path] = "requirements.txt"
            specs += [line for line in map(str.strip, text.splitlines()) if _is_spec_line(line)]
    if len(set(kinds.values())) > 1:
        raise EnvironmentFileTypeMismatchError(
            "Cannot mix environment file formats.\n\n"
            + "\n".join(f"'{path}' is a {kind} format file" for path, kind in kinds.items()),
            "Give either @EXPLICIT files or files of package specs, in separate commands.",
        )
    explicit = ExplicitFile(tuple(packages), platform) if "explicit" in kinds.values() else None
    return SpecFiles(tuple(specs), explicit)


def package_urls(specs: Sequence[str]) -> ExplicitFile | None:
    """Specs that are all package URLs are an explicit install, as in conda (no solve)."""
    if not specs or not all("://" in spec for spec in specs):
        return None
    return parse_explicit("\n".join([MARKER, *specs]), "the command line")


def _read_spec_file(path: Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CondaValueError(
            f"Cannot read --file {path}: {getattr(error, 'strerror', None) or error}.",
            "Check the path; the file must be UTF-8 text with one package spec a line.",
        ) from None


def _is_spec_line(line: str) -> bool:
    return bool(line) and not line.startswith(("#", "@"))


def plan_records(
    request: ChangeRequest,
    records: Sequence[rattler.RepoDataRecord],
    config: Config,
    *,
    exact: bool,
) -> ChangeOutcome:
    """Install these very records, without solving (conda's ``explicit``).

    With ``exact`` the environment becomes this set (create, ``--locked``, ``--clone``).
    Without it, as conda's explicit install into an environment: each record replaces the
    installed package of its name unless that is the same package; other packages stay.
    History records the linked packages' specs (``channel/subdir::name==version=build``),
    as conda does for an explicit install.
    """
    _check_target(request)
    _refuse_duplicates(records)
    recovered = recover(request.prefix) if request.prefix.exists() else False
    installed, warnings = _installed(request)
    have = {r.name.normalized: r for r in installed}
    want = {r.name.normalized: r for r in records}
    kept = {n: have[n] for n, r in want.items() if n in have and _same_package(have[n], r)}
    link = [r for n, r in want.items() if n not in kept]
    unlink = [r for n, r in have.items() if n not in kept and (exact or n in want)]
    others = [] if exact else [r for n, r in have.items() if n not in want]
    ctx = config.channel_context()
    solution = SolveResult(
        final=tuple([kept.get(n, r) for n, r in want.items()] + others),
        link=tuple(toposort(link)),
        unlink=tuple(reversed(toposort(unlink))),
        update_specs=tuple(record_spec(r, ctx) for r in link),
        remove_specs=(),
    )
    channels = _channels_of(records, config)
    _verify_unsolved(solution.link, channels, config)
    return _outcome(request, channels, solution, recovered, warnings, config)


def _verify_unsolved(
    link: Sequence[rattler.RepoDataRecord], channels: list[Channel], config: Config
) -> None:
    """Records that were not solved (an @EXPLICIT file, a lock file) are checked against
    their channels' signed repodata too, when those channels are checked: a lock file
    names hashes, but only the channel's signatures say the channel published them."""
    policy = policy_for(config, channels)
    if not policy.active or not link:
        return
    subdirs = tuple(sorted({r.subdir for r in link} | {"noarch"}))
    _verify(link, channels, fetch_repodata(channels, subdirs, config), policy)


def _verify(
    link: Sequence[rattler.RepoDataRecord],
    channels: list[Channel],
    repodata: Mapping[tuple[str, str], Path],
    policy: SignaturePolicy,
) -> None:
    """The signature check, loaded only when a channel is checked (its cryptography and
    HTTP client cost every other solve a fifth of a second)."""
    if policy.active:
        from ophis.manager.signatures import verify_records

        verify_records(link, channels, repodata, policy)


def _refuse_duplicates(records: Sequence[rattler.RepoDataRecord]) -> None:
    seen: dict[str, str] = {}
    for record in records:
        other = seen.setdefault(record.name.normalized, str(record.url))
        if other != str(record.url):
            raise CondaValueError(
                f"Two packages named '{record.name.normalized}' were given: {other} and "
                f"{record.url}.",
                "An environment holds one package of each name: keep one of the two.",
            )


def _same_package(installed: rattler.PrefixRecord, wanted: rattler.RepoDataRecord) -> bool:
    """The same build from the same channel subdir (and the same bytes, when both know)."""
    same_hash = not (installed.sha256 and wanted.sha256) or installed.sha256 == wanted.sha256
    return (
        dist_name(installed) == dist_name(wanted)
        and installed.subdir == wanted.subdir
        and base_url(installed) == base_url(wanted)
        and same_hash
    )


def plan_explicit(request: ChangeRequest, explicit: ExplicitFile, config: Config) -> ChangeOutcome:
    """``create|install --file`` with @EXPLICIT files."""
    from ophis.manager.explicit_records import explicit_records  # not needed to solve

    records = explicit_records(explicit, config, fetch_repodata)
    return plan_records(request, records, config, exact=request.action == "create")


def plan_locked(request: ChangeRequest, lock_file: Path, config: Config) -> ChangeOutcome:
    """``create|install --locked FILE``: the environment becomes exactly what the lock file
    pins for this platform, without solving."""
    from ophis.manager.lockfile import locked_records  # not needed to solve

    return plan_records(request, locked_records(lock_file, config.subdir), config, exact=True)


def plan_clone(request: ChangeRequest, source: Path, config: Config) -> ChangeOutcome:
    """``create --clone SOURCE`` (conda's ``clone_env``): the source's packages, installed
    from their URLs through the package cache (so offline when it has them), and the
    source's files that no package owns, copied with the source's path replaced in text."""
    data = PrefixData(source)
    if not data.is_environment():
        raise EnvironmentLocationNotFound.at(
            source,
            "Name the environment to clone with --clone NAME or --clone PATH "
            "(see 'ophis env list').",
        )
    if source.resolve() == request.prefix.resolve():
        raise CondaValueError(
            f"Cannot clone {source} into itself.", "Give another name with -n or -p."
        )
    installed = list(data.records().values())
    records = [
        rattler.RepoDataRecord(r, r.file_name, str(r.url), str(r.channel or base_url(r)))
        for r in installed
    ]
    outcome = plan_records(request, records, config, exact=True)
    outcome.warnings = list(data.warnings) + outcome.warnings
    outcome.clone_source = source
    outcome.untracked = untracked_files(source, installed)
    return outcome


# --- clones: the files no package owns -----------------------------------------------------

#: top-level names conda's ``walk_prefix`` never copies, and its ignored ``bin/`` entries
_NOT_CLONED = frozenset(
    {
        "pkgs",
        "envs",
        "conda-bld",
        "conda-meta",
        ".conda_lock",
        "users",
        "LICENSE.txt",
        "info",
        "conda-recipes",
        ".index",
        ".unionfs",
        ".nonadmin",
    }
)
_NOT_CLONED_BIN = frozenset({"conda", "activate", "deactivate"})


def untracked_files(prefix: Path, records: Sequence[rattler.PrefixRecord]) -> list[str]:
    """conda's ``untracked``: files (and symlinks) in ``prefix`` that no record lists, except
    backups (``*~``) and the ``.pyc`` of a package's ``.py``."""
    owned = {str(p) for r in records for p in r.files}
    found: list[str] = []
    for top in sorted(os.listdir(prefix)):
        if top in _NOT_CLONED:
            continue
        if not (prefix / top).is_dir() or (prefix / top).is_symlink():
            found.append(top)
            continue
        for folder, dirs, files in os.walk(prefix / top):
            here = Path(folder)
            skip = _NOT_CLONED_BIN if here == prefix / "bin" else frozenset()
            found += [str((here / f).relative_to(prefix)) for f in files if f not in skip]
            found += [str((here / d).relative_to(prefix)) for d in dirs if (here / d).is_symlink()]
    return sorted(
        path
        for path in found
        if path not in owned
        and not path.endswith("~")
        and not (path.endswith(".pyc") and path[:-1] in owned)
    )


def copy_untracked(source: Path, target: Path, paths: Sequence[str]) -> None:
    """Copy each path as conda's ``clone_env`` does: symlinks as symlinks, text with the
    source prefix replaced by the target's, anything else byte for byte."""
    for relative in paths:
        src, dst = source / relative, target / relative
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
            continue
        try:
            data = src.read_bytes()
        except OSError:
            continue  # conda skips what it cannot read
        dst.write_bytes(_relocated(data, str(source), str(target)))
        shutil.copystat(src, dst)


def _relocated(data: bytes, source: str, target: str) -> bytes:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # binary: copied as it is
    return text.replace(source, target).encode("utf-8")
