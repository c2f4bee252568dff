"""Solving an environment with conda's semantics on py-rattler's solver.

The solver is ``rattler.solve_with_sparse_repodata`` (it reads local ``repodata.json``
files, accepts any subdir name, and refuses a lower-priority channel under strict priority
as conda does). conda's rules laid on top of it:

* **Specs** (conda's ``Solver._add_specs``): the requested specs, plus the specs previously
  requested (history) for the other names, plus every other installed package as a plain
  name, so nothing installed disappears. If that cannot be solved, the installed packages
  nobody asked for are allowed to go (conda lets a request remove what conflicts with it).
* **Installed records** are *locked* (kept unless a request needs them to change):
  ``update_specs`` (the default) locks all installed packages except the requested names;
  ``freeze_installed`` *pins* them (they cannot change); ``update_deps`` also unlocks the
  dependencies of the requested packages; ``update_all`` asks for every history name with
  no version and locks nothing.
* **python** stays on its installed minor version unless python itself is requested
  (conda's business rule); **aggressive_update_packages** (ca-certificates, certifi,
  openssl) are never locked.
* **remove**: the named packages go with every installed package that depends on them;
  then the packages that only they needed (orphans that were never requested). With
  ``force_remove`` only the named packages go.
* ``pinned`` specs (``pinned_packages`` and ``conda-meta/pinned``), as conda's default
  solver (libmamba) treats them: a pin with a version or build is a constraint (it installs
  nothing); a name-only pin holds the installed package as it is; python follows its pin
  instead of the minor-version rule. A requested spec that no record satisfies together with
  its pin (or that a name-only pin's installed record does not match) is refused with
  ``SpecsConfigurationConflictError`` before solving; a dependency that conflicts with a
  pin is an ordinary ``UnsatisfiableError``. With ``solver: classic`` the classic solver's
  rules apply instead (``Solver._add_specs`` and ``_run_sat``): a requested spec that
  contradicts its pin overrides it, with a warning; name-only pins hold nothing; and a
  request that only the pins make unsolvable is ``SpecsConfigurationConflictError``.
* ``update`` takes package names only (``CondaUpdatePackageError``), each installed
  (``PackageNotInstalledError``); the named packages are freed from their history specs.
* ``update_deps`` (conda's second solve): after the solve, the named packages and every
  dependency of theirs are requested again by name (python at its minor version, pinned
  names left to their pins), and that is solved with ``update_specs``; the history records
  them all as requested, as conda does.
* A virtual package (``__glibc>=2.17``) may be requested: it is satisfied by the system's
  virtual packages and installs nothing; one the system does not have is not found.
* Legacy ``features``, the ``track_features`` setting, ``[features=...]`` specs and the
  channel tie-break of ``channel_priority: disabled`` are conda's ranking rules, laid on a
  solve-only copy of the records (``ophis.manager.conda_ranking``).
* ``no_deps``: the named packages' records from a full solve, nothing else changes;
  ``only_deps``: the full solve without the named packages.

Channel priority: conda ``strict`` → rattler ``Strict`` (a name is taken only from the
highest-priority channel that has it); ``disabled`` → ``Disabled`` (the highest version
from any channel); ``flexible`` → rattler ``Flexible``. The gap: conda's flexible mode
(classic and libmamba) prefers a higher-priority channel over a higher version for every
package and falls back to lower channels only when the higher channel cannot satisfy the
request; rattler's Flexible is the same preference but decided per package while solving,
so a solution mixing channels can differ from conda's when two packages trade off.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import rattler
from rattler.exceptions import SolverError

from ophis.core.atomic_file import file_version
from ophis.core.channel import Channel
from ophis.core.errors import (
    CondaUpdatePackageError,
    CondaValueError,
    OphisError,
    PackageNotInstalledError,
    PackagesNotFoundError,
    PackagesNotFoundInPrefixError,
    ResolvePackageNotFound,
    SpecsConfigurationConflictError,
)
from ophis.core.platform import rattler_knows
from ophis.core.virtual_packages import VirtualPackageSpec
from ophis.manager.conda_ranking import Ranking, has_legacy_features, ranked_solve
from ophis.manager.conflicts import (
    conda_spec_str,
    missing_dependencies,
    system_incompatibility,
    unsatisfiable_error,
)
from ophis.manager.history import record_spec
from ophis.manager.records import checked_records, record_dump
from ophis.manager.specs import ParsedSpec, parse_spec

__all__ = [
    "AGGRESSIVE_UPDATE_PACKAGES",
    "SolveRequest",
    "SolveResult",
    "clear_repodata_cache",
    "load_repodata",
    "solve",
    "toposort",
]

#: conda's default ``aggressive_update_packages``
AGGRESSIVE_UPDATE_PACKAGES: tuple[str, ...] = ("ca-certificates", "certifi", "openssl")

_PRIORITY = {
    "strict": rattler.ChannelPriority.Strict,
    "flexible": rattler.ChannelPriority.Flexible,
    "disabled": rattler.ChannelPriority.Disabled,
}
_UPDATE_MODIFIERS = ("update_specs", "freeze_installed", "update_deps", "update_all")
_ACTIONS = ("create", "install", "update", "remove")


@dataclass(frozen=True)
class SolveRequest:
    specs: tuple[str, ...]
    channels: tuple[Channel, ...]
    subdir: str
    repodata: Mapping[tuple[str, str], Path]
    installed: tuple[rattler.PrefixRecord, ...] = ()
    history_specs: Mapping[str, str] = field(default_factory=dict)
    virtual_packages: tuple[VirtualPackageSpec, ...] = ()
    channel_priority: str = "flexible"
    update_modifier: str = "update_specs"
    action: str = "install"
    no_deps: bool = False
    only_deps: bool = False
    force_reinstall: bool = False
    force_remove: bool = False
    add_pip_as_python_dependency: bool = True
    pinned: tuple[str, ...] = ()
    track_features: tuple[str, ...] = ()
    #: conda's ``aggressive_update_packages``: never locked, updated when installed
    aggressive_update_packages: tuple[str, ...] = AGGRESSIVE_UPDATE_PACKAGES
    #: conda's ``solver_strategy`` analogue: "highest" | "lowest" | "lowest-direct"
    strategy: str = "highest"
    #: the environment, named in errors
    prefix: str = ""
    #: conda's ``solver`` setting, where the two solvers' rules differ (pins): "classic"
    #: or "libmamba" (conda 26's default)
    solver: str = "libmamba"


@dataclass(frozen=True)
class SolveResult:
    final: tuple[rattler.RepoDataRecord | rattler.PrefixRecord, ...]
    link: tuple[rattler.RepoDataRecord, ...]
    unlink: tuple[rattler.PrefixRecord, ...]
    update_specs: tuple[str, ...]
    remove_specs: tuple[str, ...]
    #: what conda would log as warnings (a pin overridden by a requested spec)
    warnings: tuple[str, ...] = ()


# --- repodata -------------------------------------------------------------------------

_CACHE: dict[tuple[str, str, str], tuple[tuple[int, ...], rattler.SparseRepoData]] = {}


def load_repodata(channel: Channel, subdir: str, path: Path | str) -> rattler.SparseRepoData:
    """The repodata of one channel subdir, read in place: py-rattler indexes the file and
    decodes only the records a solve asks for. Kept while the file is the same version
    (:func:`~ophis.core.atomic_file.file_version`), so a process that solves again reads
    an unchanged file once and a changed one afresh."""
    key = (channel.base_url, subdir, os.fspath(path))
    stamp = file_version(path)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    sparse = rattler.SparseRepoData(channel.to_rattler(), subdir, path)
    _CACHE[key] = (stamp, sparse)
    return sparse


def clear_repodata_cache() -> None:
    """Drop the py-rattler objects this module keeps between solves."""
    _CACHE.clear()


# --- small helpers ----------------------------------------------------------------------


def _name(record: rattler.PackageRecord) -> str:
    return record.name.normalized


def _dep_name(spec: str) -> str:
    return re.split(r"[\s=<>!~\[]", spec.strip(), maxsplit=1)[0].lower()


def _identity(record: rattler.RepoDataRecord) -> tuple[str, str, str]:
    return (_name(record), str(record.version), str(record.build))


def _same(a: rattler.RepoDataRecord, b: rattler.RepoDataRecord) -> bool:
    return _identity(a) == _identity(b) and str(a.subdir) == str(b.subdir)


def toposort(records: Iterable[rattler.PackageRecord]) -> list:
    """conda's ``PrefixGraph`` order (cycles allowed): packages that nothing depends on and
    that depend on nothing first, then dependencies before what needs them, each level
    sorted by name; python never waits for pip (``add_pip_as_python_dependency`` makes a
    cycle of them), and a remaining cycle is broken at the package with the fewest
    dependencies left."""
    by_name = {_name(r): r for r in records}
    parents = {
        name: {_dep_name(d) for d in record.depends} & by_name.keys() - {name}
        for name, record in by_name.items()
    }
    if "python" in parents:
        parents["python"].discard("pip")
    if "menuinst" in parents and "python" in parents:  # linked before anything using python
        for name, needs in parents.items():
            if "python" in needs and name not in parents["menuinst"] and name != "menuinst":
                needs.add("menuinst")
    needed = {n for needs in parents.values() for n in needs}
    ordered = sorted(n for n, needs in parents.items() if not needs and n not in needed)
    remaining = {n: needs for n, needs in parents.items() if n not in ordered}
    for needs in remaining.values():
        needs -= set(ordered)
    while remaining:
        level = sorted(n for n, needs in remaining.items() if not needs)
        if not level:
            level = [min(remaining, key=lambda n: (len(remaining[n]), _dist_str(by_name[n])))]
        ordered += level
        for name in level:
            del remaining[name]
        for needs in remaining.values():
            needs -= set(level)
    return [by_name[name] for name in ordered]


def _dist_str(record: rattler.PackageRecord) -> str:
    return f"{record.subdir}::{_name(record)}-{record.version}-{record.build}"


def _dependency_closure(names: Iterable[str], records: Mapping[str, rattler.PackageRecord]):
    seen: set[str] = set()
    stack = [n for n in names if n in records]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(d for d in map(_dep_name, records[name].depends) if d in records)
    return seen


def _dependents_closure(names: Iterable[str], records: Mapping[str, rattler.PackageRecord]):
    reverse: dict[str, set[str]] = {}
    for name, record in records.items():
        for dep in map(_dep_name, record.depends):
            reverse.setdefault(dep, set()).add(name)
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(reverse.get(name, ()))
    return seen


# --- channels and specs -----------------------------------------------------------------


def _channel_for(parsed: ParsedSpec, channels: Sequence[Channel]) -> Channel | None:
    wanted = parsed.channel.rstrip("/") if parsed.channel else None
    for channel in channels:
        if wanted in (channel.name, channel.canonical_name, channel.base_url):
            return channel
        if wanted and wanted.startswith("file:") and wanted == channel.base_url.rstrip("/"):
            return channel
    return None


def _bind_channel(parsed: ParsedSpec, channels: Sequence[Channel]) -> rattler.MatchSpec:
    """The spec with its channel replaced by the URL of the request's matching channel."""
    if parsed.channel is None:
        return parsed.rattler_spec
    channel = _channel_for(parsed, channels)
    if channel is None:
        raise PackagesNotFoundError([parsed.original], [c.base_url for c in channels])
    prefix = channel.base_url + (f"/{parsed.subdir}" if parsed.subdir else "")
    return rattler.MatchSpec(f"{prefix}::{parsed.rattler_spec}", strict=False)


def _spec_matches(spec: rattler.MatchSpec, record: rattler.RepoDataRecord) -> bool:
    return spec.matches(record)


@dataclass
class _Sources:
    request: SolveRequest
    sparse: list[rattler.SparseRepoData]
    by_channel: dict[str, list[rattler.SparseRepoData]]

    def records(self, name: str, channel: Channel | None = None) -> list[rattler.RepoDataRecord]:
        sources = self.by_channel.get(channel.base_url, []) if channel else self.sparse
        found: list[rattler.RepoDataRecord] = []
        for source in sources:
            found.extend(source.load_records(name))
        return found


def _sources(request: SolveRequest) -> _Sources:
    sparse: list[rattler.SparseRepoData] = []
    by_channel: dict[str, list[rattler.SparseRepoData]] = {}
    for channel in request.channels:
        subdirs = (channel.platform,) if channel.platform else (request.subdir,)
        for subdir in dict.fromkeys((*subdirs, "noarch")):
            path = request.repodata.get((channel.base_url, subdir))
            if path is None:
                continue
            source = load_repodata(channel, subdir, path)
            sparse.append(source)
            by_channel.setdefault(channel.base_url, []).append(source)
    return _Sources(request, sparse, by_channel)


def _check_available(
    requested: Sequence[tuple[ParsedSpec, rattler.MatchSpec]], sources: _Sources
) -> None:
    """conda's PackagesNotFoundError: a requested spec that no record anywhere matches
    (specs of one name together, as conda merges them)."""
    missing = []
    for parsed, _bound in requested:
        if parsed.is_explicit:
            continue
        channel = _channel_for(parsed, sources.request.channels) if parsed.channel else None
        if parsed.name.startswith("__"):
            candidates = _virtual_records(sources.request.virtual_packages)
        else:
            candidates = sources.records(parsed.name, channel)
        same_name = [p.rattler_spec for p, _ in requested if p.name == parsed.name]
        if not any(all(_spec_matches(s, r) for s in same_name) for r in candidates):
            missing.append(parsed.original.strip())
    if missing:
        raise PackagesNotFoundError(missing, channel_urls(sources.request))


def _virtual_records(virtual: Sequence[VirtualPackageSpec]) -> list[rattler.PackageRecord]:
    """The system's virtual packages as records, to match requested specs against."""
    return [
        rattler.PackageRecord(
            name=rattler.PackageName(v.name),
            version=rattler.VersionWithSource(v.version),
            build=rattler.BuildString(v.build),
            build_number=0,
            subdir="noarch",
        )
        for v in virtual
    ]


def _solver_error(exc: Exception, parsed: Sequence[ParsedSpec], sources: _Sources) -> OphisError:
    body = str(exc)
    missing = missing_dependencies(body)
    installed_virtual = {v.name: str(v.version) for v in sources.request.virtual_packages}
    system = system_incompatibility(
        parsed, sources.records, missing, installed_virtual, sources.request.subdir
    )
    if system is not None:  # conda: a virtual package the system lacks is unsatisfiable
        return system
    if missing:  # a dependency that exists nowhere
        return ResolvePackageNotFound(
            missing,
            channel_urls(sources.request),
            "Add a channel that has it with -c CHANNEL, ask for another version, or check "
            "the system's virtual packages (__cuda, __glibc) with 'ophis info'.",
        )
    return unsatisfiable_error(parsed, sources.records, body)


def channel_urls(request: SolveRequest) -> list[str]:
    """The searched subdir URLs, as conda lists them in PackagesNotFoundError."""
    return [
        c.url(subdir)
        for c in request.channels
        for subdir in dict.fromkeys((c.platform or request.subdir, "noarch"))
    ]


def _check_pins(
    parsed: Sequence[ParsedSpec],
    pins: Mapping[str, ParsedSpec],
    installed: Mapping[str, rattler.PrefixRecord],
    sources: _Sources,
) -> None:
    """conda's SpecsConfigurationConflictError (libmamba's ``check_for_pin_conflicts``): a
    requested spec that no record satisfies together with its pin, or that the installed
    record a name-only pin holds does not match. conda then lists every requested spec and
    every pin (a name-only pin as the installed record it holds), each sorted by name."""
    for spec in parsed:
        pin = pins.get(spec.name)
        if pin is None:
            continue
        held = installed.get(spec.name) if _is_name_only(pin) else None
        if held is not None:
            conflict = not spec.rattler_spec.matches(held)
        else:
            conflict = not any(
                spec.rattler_spec.matches(r) and pin.rattler_spec.matches(r)
                for r in sources.records(spec.name)
            )
        if conflict:
            raise _pin_conflict(parsed, pins, installed, sources.request.prefix)


def _classic_overrides(
    parsed: Sequence[ParsedSpec], pins: Mapping[str, ParsedSpec], sources: _Sources
) -> tuple[dict[str, ParsedSpec], list[str]]:
    """The classic solver's rule: a requested spec no record satisfies together with its
    pin overrides the pin, with a warning; the other pins stay."""
    kept = dict(pins)
    warnings = []
    for spec in parsed:
        pin = kept.get(spec.name)
        if pin is not None and not any(
            spec.rattler_spec.matches(r) and pin.rattler_spec.matches(r)
            for r in sources.records(spec.name)
        ):
            del kept[spec.name]
            warnings.append(
                f"The pinned spec {conda_spec_str(str(pin.rattler_spec))} conflicts with the "
                f"requested {conda_spec_str(str(spec.rattler_spec))}: the pin is overridden."
            )
    return kept, warnings


def _classic_pin_conflict(
    request: SolveRequest,
    sources: _Sources,
    specs: Sequence[rattler.MatchSpec],
    locked: Sequence[rattler.RepoDataRecord],
    parsed: Sequence[ParsedSpec],
    pins: Mapping[str, ParsedSpec],
) -> SpecsConfigurationConflictError | None:
    """The classic solver's SpecsConfigurationConflictError: the request is solvable
    without the pins (and the history specs of the pinned names), and the solution breaks
    some of them."""
    relaxable = pins.keys() - {p.name for p in parsed}
    relaxed = [_name_only(s) if _spec_name(s) in relaxable else s for s in specs]
    unlocked = [r for r in locked if _name(r) not in relaxable]
    try:
        solution = _run(request, sources, relaxed, unlocked, [], [])
    except SolverError:
        return None
    chosen = {_name(r): r for r in solution}
    broken = [
        conda_spec_str(str(pin.rattler_spec))
        for name, pin in sorted(pins.items())
        if name in chosen and not pin.rattler_spec.matches(chosen[name])
    ]
    if not broken:
        return None
    requested = sorted(conda_spec_str(str(p.rattler_spec)) for p in parsed if p.name not in pins)
    return SpecsConfigurationConflictError(requested, broken, request.prefix)


def _spec_name(spec: rattler.MatchSpec) -> str | None:
    return spec.name.normalized if spec.name is not None else None


def _name_only(spec: rattler.MatchSpec) -> rattler.MatchSpec:
    return rattler.MatchSpec(spec.name.normalized) if spec.name is not None else spec


def _pin_conflict(
    parsed: Sequence[ParsedSpec],
    pins: Mapping[str, ParsedSpec],
    installed: Mapping[str, rattler.PrefixRecord],
    prefix: str,
) -> SpecsConfigurationConflictError:
    requested = [conda_spec_str(str(p.rattler_spec)) for p in sorted(parsed, key=lambda p: p.name)]
    shown: list[str] = []
    dumped: list[object] = []
    for name, pin in sorted(pins.items()):
        held = installed.get(name) if _is_name_only(pin) else None
        if held is None:
            shown.append(conda_spec_str(str(pin.rattler_spec)))
            dumped.append(shown[-1])
        else:
            shown.append(record_spec(held))
            dumped.append(record_dump(held))
    return SpecsConfigurationConflictError(requested, shown, prefix, pinned_json=dumped)


def _run(
    request: SolveRequest,
    sources: _Sources,
    specs: Sequence[rattler.MatchSpec],
    locked: Sequence[rattler.RepoDataRecord],
    pinned: Sequence[rattler.RepoDataRecord],
    constraints: Sequence[rattler.MatchSpec],
) -> list[rattler.RepoDataRecord]:
    options = dict(
        specs=list(specs),
        virtual_packages=[v.to_rattler() for v in request.virtual_packages],
        channel_priority=_PRIORITY[request.channel_priority],
        strategy=request.strategy,
        constraints=list(constraints) or None,
        add_pip_as_python_dependency=request.add_pip_as_python_dependency,
        timestamp_policy="allow-missing",
    )
    ranking = _ranking(request, [*specs, *constraints])
    subdirs = list(dict.fromkeys(str(s.subdir) for s in sources.sparse))
    # conda's ranking rules rattler lacks (ophis.manager.conda_ranking); its custom sources
    # need platforms rattler knows, so a test platform (conda's linux-fake) is solved as is
    if ranking.applies and all(map(rattler_knows, subdirs)):
        try:
            return ranked_solve(ranking, sources.by_channel, subdirs, locked, pinned, **options)
        except SolverError as ranked_error:
            # rattler's message on custom sources names only the records it fetched; the
            # same request on the repodata itself explains the conflict as usual
            _sparse_solve(sources, locked, pinned, options)
            raise ranked_error from None
    return _sparse_solve(sources, locked, pinned, options)


def _sparse_solve(
    sources: _Sources,
    locked: Sequence[rattler.RepoDataRecord],
    pinned: Sequence[rattler.RepoDataRecord],
    options: dict,
) -> list[rattler.RepoDataRecord]:
    return asyncio.run(
        rattler.solve_with_sparse_repodata(
            sparse_repodata=sources.sparse,
            locked_packages=list(locked),
            pinned_packages=list(pinned),
            **options,
        )
    )


def _ranking(request: SolveRequest, specs: Sequence[rattler.MatchSpec]) -> Ranking:
    channels = tuple(dict.fromkeys(c.base_url for c in request.channels))
    feature_specs = {}
    for text in request.specs:
        parsed = parse_spec(text)
        if parsed.features is not None:
            feature_specs[parsed.name] = parsed.features
    return Ranking(
        channels=channels,
        channel_ties=request.channel_priority == "disabled"
        and len(channels) > 1
        and not any(s.build_number is not None for s in specs),
        features=frozenset(request.track_features),
        feature_specs=feature_specs,
        legacy_features=any(map(has_legacy_features, request.repodata.values())),
    )


def _validate(request: SolveRequest) -> None:
    if request.channel_priority not in _PRIORITY:
        raise CondaValueError(
            f"channel_priority {request.channel_priority!r} is not one of strict, flexible, "
            "disabled"
        )
    if request.update_modifier not in _UPDATE_MODIFIERS:
        raise CondaValueError(
            f"update_modifier {request.update_modifier!r} is not one of "
            f"{', '.join(_UPDATE_MODIFIERS)}"
        )
    if request.action not in _ACTIONS:
        raise CondaValueError(f"action {request.action!r} is not one of {', '.join(_ACTIONS)}")
    if request.no_deps and request.only_deps:
        raise CondaValueError("--no-deps and --only-deps cannot be used together")


# --- the solve ---------------------------------------------------------------------------


def solve(request: SolveRequest) -> SolveResult:
    """Solve ``request`` with conda's semantics; see the module docstring."""
    _validate(request)
    if request.action == "remove":
        return _solve_remove(request)
    if request.action == "update" and request.update_modifier != "update_all":
        _check_update_specs(request)
    if request.update_modifier == "update_deps" and request.specs:
        first = _solve_install(replace(request, update_modifier="update_specs"))
        return _solve_install(_with_dependencies(request, first))
    return _solve_install(request)


def _is_name_only(parsed: ParsedSpec) -> bool:
    """conda's ``MatchSpec.is_name_only_spec``: nothing but the package name."""
    return (
        parsed.channel is None
        and parsed.subdir is None
        and str(parsed.rattler_spec).lower() == parsed.name
    )


def _check_update_specs(request: SolveRequest) -> None:
    """conda's ``ensure_update_specs_exist``: each spec a bare name, each installed."""
    installed = {_name(r) for r in request.installed}
    for text in request.specs:
        parsed = parse_spec(text)
        if not _is_name_only(parsed):
            raise CondaUpdatePackageError(text.strip())
        if parsed.name not in installed:
            raise PackageNotInstalledError(request.prefix, parsed.name)


def _with_dependencies(request: SolveRequest, first: SolveResult) -> SolveRequest:
    """conda's ``--update-deps``: the request plus, by name, every dependency the first
    solve gave the requested packages; pinned names stay with their pins, python stays on
    the installed minor version."""
    records = {_name(r): r for r in first.final}
    requested = {parse_spec(s).name: s for s in request.specs}
    pinned = {parse_spec(p).name for p in request.pinned}
    names = _dependency_closure(requested, records) - requested.keys() - pinned
    specs = {name: name for name in sorted(names)}
    python = _python_minor({_name(r): r for r in request.installed})
    if "python" in specs and python:
        specs["python"] = f"python={python}"
    return replace(
        request, specs=(*specs.values(), *requested.values()), update_modifier="update_specs"
    )


def _result(
    request: SolveRequest,
    final_records: Sequence[rattler.RepoDataRecord],
    update_specs: tuple[str, ...] = (),
    remove_specs: tuple[str, ...] = (),
    reinstall: Iterable[str] = (),
) -> SolveResult:
    installed = {_name(r): r for r in request.installed}
    reinstall = set(reinstall)
    final: list = []
    link: list = []
    for record in toposort(checked_records(final_records)):
        name = _name(record)
        old = installed.get(name)
        if old is not None and _same(old, record) and name not in reinstall:
            final.append(old)
        else:
            final.append(record)
            link.append(record)
    kept = {id(r) for r in final}
    unlink = [r for r in reversed(toposort(request.installed)) if id(r) not in kept]
    return SolveResult(tuple(final), tuple(link), tuple(unlink), update_specs, remove_specs)


def _solve_remove(request: SolveRequest) -> SolveResult:
    installed = {_name(r): r for r in request.installed}
    parsed = [parse_spec(s) for s in request.specs]
    targets = {
        name
        for p in parsed
        for name, record in installed.items()
        if name == p.name and _spec_matches(p.rattler_spec, record)
    }
    missing = sorted(conda_spec_str(p.original) for p in parsed if p.name not in targets)
    if missing:
        raise PackagesNotFoundInPrefixError(missing, request.prefix)
    if request.force_remove:
        gone = targets
    else:
        # the named packages and everything that depends on them ...
        gone = _dependents_closure(targets, installed)
        remaining = {n: r for n, r in installed.items() if n not in gone}
        # ... then the named packages' own dependencies that nothing left needs and
        # nobody asked for (conda keeps the dependencies of the dependents it removed)
        candidates = _dependency_closure(targets, installed) - gone
        roots = [n for n in remaining if n not in candidates]
        roots += [n for n in request.history_specs if n in remaining]
        roots += [n for n in request.aggressive_update_packages if n in remaining]
        gone |= candidates - _dependency_closure(roots, remaining)
    final = [r for n, r in installed.items() if n not in gone]
    return _result(request, final, remove_specs=tuple(p.original.strip() for p in parsed))


def _python_minor(installed: Mapping[str, rattler.PrefixRecord]) -> str | None:
    """The installed python's major.minor version (conda's business rule keeps it)."""
    python = installed.get("python")
    if python is None:
        return None
    parts = str(python.version).split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


def _solve_install(request: SolveRequest) -> SolveResult:
    sources = _sources(request)
    installed = {_name(r): r for r in request.installed}
    parsed = [parse_spec(s) for s in request.specs]
    requested = [(p, _bind_channel(p, request.channels)) for p in parsed]
    requested_names = {p.name for p in parsed}
    pins = {p.name: p for p in map(parse_spec, request.pinned)}
    _check_available(requested, sources)
    classic = request.solver == "classic"
    warnings: list[str] = []
    if classic:
        pins, warnings = _classic_overrides(parsed, pins, sources)
    else:
        _check_pins(parsed, pins, installed, sources)
    # libmamba: a name-only pin holds its installed package, unless that one is requested
    held = {
        name: installed[name]
        for name, pin in pins.items()
        if not classic and _is_name_only(pin) and name in installed and name not in requested_names
    }

    modifier = request.update_modifier
    specs: dict[str, rattler.MatchSpec] = {}
    history = {
        name: text for name, text in request.history_specs.items() if name not in requested_names
    }
    for name, text in history.items():
        if modifier == "update_all":
            specs[name] = rattler.MatchSpec(name)
        else:
            specs[name] = _bind_channel(parse_spec(text), request.channels)
    requested_seen: set[str] = set()
    aggressive = [n for n in request.aggressive_update_packages if n in installed]
    for name in aggressive:
        if name not in requested_names:
            # conda >= 4.6: aggressive updates override the history spec too
            specs[name] = rattler.MatchSpec(name)
    constraints = [_bind_channel(p, request.channels) for p in pins.values() if p.name not in held]
    python = _python_minor(installed)
    if python and "python" not in requested_names and "python" not in pins:
        constraints.append(rattler.MatchSpec(f"python {python}.*", strict=False))
    for parsed_spec, spec in requested:
        # a second spec of one name is kept beside the first (conda merges them)
        key = parsed_spec.name if parsed_spec.name not in requested_seen else f"{spec}"
        requested_seen.add(parsed_spec.name)
        specs[key] = spec

    unlockable = set(requested_names) | set(aggressive)
    if modifier == "update_deps":
        unlockable |= _dependency_closure(requested_names, installed)
    if modifier == "update_all":
        unlockable |= set(installed)
    if request.force_reinstall:
        unlockable -= requested_names
    holdable = [r for n, r in installed.items() if n not in unlockable and n not in held]
    locked = [] if modifier == "freeze_installed" else holdable
    pinned = [*held.values(), *(holdable if modifier == "freeze_installed" else [])]

    keep_all = {name: rattler.MatchSpec(name) for name in installed if name not in specs}
    attempts = [{**keep_all, **specs}]
    if keep_all:
        attempts.append(specs)
    # conda's freeze: installed packages pinned; if that cannot be solved, only locked
    runs = [(attempt, locked, pinned) for attempt in attempts]
    if modifier == "freeze_installed":
        runs += [(attempt, holdable, list(held.values())) for attempt in attempts]
    error: Exception | None = None
    solution: list[rattler.RepoDataRecord] | None = None
    for attempt, soft, hard in runs:
        try:
            solution = _run(request, sources, list(attempt.values()), soft, hard, constraints)
            break
        except SolverError as exc:
            error = error or exc
    if solution is None:
        assert error is not None
        conflict = None
        if classic and pins:
            conflict = _classic_pin_conflict(
                request, sources, list(attempts[-1].values()), holdable, parsed, pins
            )
        raise conflict or _solver_error(error, parsed, sources) from error

    if request.no_deps:
        chosen = {_name(r): r for r in solution if _name(r) in requested_names}
        solution = [r for n, r in installed.items() if n not in chosen] + list(chosen.values())
    elif request.only_deps:
        solution = [r for r in solution if _name(r) not in requested_names or _name(r) in installed]
    reinstall = requested_names if request.force_reinstall else ()
    result = _result(
        request,
        solution,
        update_specs=tuple(p.original.strip() for p in parsed),
        reinstall=reinstall,
    )
    return replace(result, warnings=tuple(warnings))
